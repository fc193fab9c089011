#pragma once

/* The OOM killer must pick the container's processes, never their supervisor, which would lose
 * the exit (a memory limit is the container's, the supervisor only has a 2 MiB share of it). As
 * Docker's shim does, the supervisor asks for oom_score_adj -999 and the container's processes
 * go back to the value it had. Lowering needs CAP_SYS_RESOURCE; without it (as in some VMs and
 * user namespaces), the container's processes are raised by 500 instead, which orders them the
 * same way inside the scope (docs/architecture.md says so; a journal note would be one more
 * entry in every container's log). */
void oom_protect_supervisor(void);

/* In a container's process before exec (async-signal-safe: open, write, close). */
void oom_apply_container(void);
