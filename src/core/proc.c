/* proc.c — see proc.h.  L3 8.1.4.10: no key material in core files. */
#include "core/proc.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

void ih_proc_harden(void)
{
    umask(077);
    struct rlimit rl = {0, 0};
    setrlimit(RLIMIT_CORE, &rl);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    signal(SIGPIPE, SIG_IGN);
}
