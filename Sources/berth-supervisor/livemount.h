/* Volumes added to and removed from a running container (berthd's update in place), as
 * `machinectl bind` does: the host tree cloned with open_tree(2) in the host's mount namespace,
 * then, in a forked child that has joined the container's, moved into place with move_mount(2).
 * The supervisor itself never leaves the host's namespace. */
#ifndef BERTH_LIVEMOUNT_H
#define BERTH_LIVEMOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Mounts host path `source` at `target` (absolute, inside the container; made if missing, as
 * a directory or an empty file after the source's type). Returns 0, or an exit code with a
 * message in err. */
int live_mount(pid_t container, const char *source, const char *target, bool readonly, char *err, size_t errlen);
/* Detaches whatever is mounted at `target` inside the container (MNT_DETACH). */
int live_unmount(pid_t container, const char *target, char *err, size_t errlen);

#endif
