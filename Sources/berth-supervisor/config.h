/* The supervisor's input: a file of NUL-terminated KEY=VALUE records written by berth (Swift),
 * so nothing here parses JSON and the supervisor stays small. Lists repeat their key. */
#ifndef BERTH_CONFIG_H
#define BERTH_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MAX_LIST 1024

struct mount_entry {
    const char *type;    /* "bind", "tmpfs", ... */
    const char *source;  /* host path for bind */
    const char *target;  /* absolute path inside the container */
    unsigned long flags; /* MS_* */
    const char *data;    /* filesystem options */
};

struct rlimit_entry {
    int resource;
    uint64_t soft, hard; /* UINT64_MAX: unlimited */
};

struct config {
    char *buffer; /* the whole file; every string below points into it */
    const char *id, *name, *image, *state_path, *hostname, *cwd, *seccomp_path;
    const char *lower[MAX_LIST];
    size_t nlower;
    const char *lower_base; /* the folder LOWER paths are relative to (berth's root), or NULL */
    const char *upper, *work, *merged;
    bool readonly_rootfs, host_network, no_new_privileges, init, tty;
    bool open_stdin;       /* keep the container's stdin open for attached clients (-i) */
    bool auto_remove;      /* --rm: remove the container's directory and name once it ended */
    const char *name_link; /* ROOT/containers/names/NAME, removed with auto_remove */
    unsigned short rows, cols; /* an exec's terminal size */
    const char *argv[MAX_LIST + 1];
    size_t nargv;
    const char *env[MAX_LIST + 1];
    size_t nenv;
    uid_t uid;
    gid_t gid;
    gid_t groups[64];
    size_t ngroups;
    uint64_t caps; /* bounding, permitted, effective for root; bounding only otherwise */
    struct mount_entry mounts[MAX_LIST];
    size_t nmounts;
    const char *masked[64];
    size_t nmasked;
    const char *readonly[64];
    size_t nreadonly;
    struct rlimit_entry rlimits[32];
    size_t nrlimits;
    const char *sysctls[64]; /* "key=value" with dots in key */
    size_t nsysctls;
    const char *net_address; /* bridge network: eth0's "A.B.C.D/LEN", its gateway and MTU */
    const char *net_gateway;
    unsigned int net_mtu;
    int stop_signal;
    int stop_timeout; /* seconds from a stop signal to SIGKILL */
};

/* Reads and checks the file; on failure prints why to stderr and returns -1. */
int config_load(const char *path, struct config *c);
/* Parses records in place (an exec request's), without the checks a container's config needs. */
int config_parse(char *buffer, size_t len, struct config *c);

#endif
