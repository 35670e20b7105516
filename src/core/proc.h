/* proc.h — process hardening shared by ihosd and ihos.
 *
 * umask 077 (nothing ihos creates is readable by others), no core dumps and
 * not ptrace-attachable by other users (keys live in memory), SIGPIPE
 * ignored (a closed socket is an error return, not a signal).
 */
#ifndef IH_CORE_PROC_H
#define IH_CORE_PROC_H

void ih_proc_harden(void);

#endif
