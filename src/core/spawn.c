/* spawn.c — see spawn.h. */
#include "core/spawn.h"

#include "core/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

ih_err ih_spawn_run(const char *program, char *const argv[], const void *in, size_t inlen, ih_buf *out,
                    size_t out_max, int timeout_ms, int *status)
{
    int to[2], from[2];
    if (pipe2(to, O_CLOEXEC) != 0) return ih_fail(IH_E_UNAVAILABLE, "pipe: %s", strerror(errno));
    if (pipe2(from, O_CLOEXEC) != 0) {
        close(to[0]);
        close(to[1]);
        return ih_fail(IH_E_UNAVAILABLE, "pipe: %s", strerror(errno));
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, to[0], 0);
    posix_spawn_file_actions_adddup2(&fa, from[1], 1);
    pid_t pid;
    int rc = posix_spawn(&pid, program, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(to[0]);
    close(from[1]);
    if (rc != 0) {
        close(to[1]);
        close(from[0]);
        return ih_fail(IH_E_UNAVAILABLE, "cannot run %s: %s", program, strerror(rc));
    }
    fcntl(to[1], F_SETFL, O_NONBLOCK);
    int64_t deadline = ih_mono_ms() + timeout_ms;
    size_t off = 0;
    bool in_open = true, out_open = true, too_much = false;
    if (inlen == 0) {
        close(to[1]);
        in_open = false;
    }
    while (out_open) {
        int64_t left = deadline - ih_mono_ms();
        if (left <= 0) break;
        struct pollfd p[2] = {{from[0], POLLIN, 0}, {in_open ? to[1] : -1, POLLOUT, 0}};
        if (poll(p, 2, (int)left) < 0 && errno != EINTR) break;
        if (in_open && (p[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t w = write(to[1], (const char *)in + off, inlen - off);
            if (w > 0) off += (size_t)w;
            if (w < 0 && errno != EAGAIN && errno != EINTR) off = inlen;
            if (off >= inlen) {
                close(to[1]);
                in_open = false;
            }
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            char buf[4096];
            ssize_t r = read(from[0], buf, sizeof buf);
            if (r > 0) {
                if (out->len + (size_t)r > out_max) too_much = true;
                else if (ih_buf_append(out, buf, (size_t)r) != IH_OK) too_much = true;
                if (too_much) break;
            } else if (r == 0 || (errno != EINTR && errno != EAGAIN))
                out_open = false;
        }
    }
    if (in_open) close(to[1]);
    close(from[0]);
    int st = 0;
    ih_err e = IH_OK;
    pid_t w = 0;
    if (too_much) e = ih_fail(IH_E_UNAVAILABLE, "%s wrote more than %zu bytes", program, out_max);
    else if (out_open) e = ih_fail(IH_E_TIMEOUT, "%s did not finish within %d ms", program, timeout_ms);
    else { /* stdout closed: it has the rest of the deadline to exit */
        while ((w = waitpid(pid, &st, WNOHANG)) == 0 && ih_mono_ms() < deadline) usleep(2000);
        if (w == 0) e = ih_fail(IH_E_TIMEOUT, "%s did not exit within %d ms", program, timeout_ms);
        else if (w < 0) e = ih_fail(IH_E_UNAVAILABLE, "waitpid: %s", strerror(errno));
    }
    if (e != IH_OK) {
        if (w == 0) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
        }
        return e;
    }
    if (!WIFEXITED(st)) return ih_fail(IH_E_UNAVAILABLE, "%s died of signal %d", program, WTERMSIG(st));
    *status = WEXITSTATUS(st);
    return IH_OK;
}
