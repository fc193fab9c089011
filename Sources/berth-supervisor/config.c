#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(const char *what, const char *detail) {
    fprintf(stderr, "berth-supervisor: config: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    return -1;
}

static int parse_u64(const char *s, uint64_t *out) {
    if (strcmp(s, "-1") == 0 || strcmp(s, "unlimited") == 0) {
        *out = UINT64_MAX;
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s || *end) return -1;
    *out = v;
    return 0;
}

/* Splits a value on the unit separator 0x1f, in place. */
static size_t split_fields(char *s, char **fields, size_t max) {
    size_t n = 0;
    fields[n++] = s;
    for (char *p = s; *p && n < max; p++) {
        if (*p == '\x1f') {
            *p = 0;
            fields[n++] = p + 1;
        }
    }
    return n;
}

#define PUSH(list, count, cap, value)                                              \
    do {                                                                           \
        if ((count) >= (cap)) return fail("too many entries for", key);            \
        (list)[(count)++] = (value);                                               \
    } while (0)

static int apply(struct config *c, char *key, char *value) {
    uint64_t n;
    if (!strcmp(key, "ID")) c->id = value;
    else if (!strcmp(key, "NAME")) c->name = value;
    else if (!strcmp(key, "IMAGE")) c->image = value;
    else if (!strcmp(key, "STATE")) c->state_path = value;
    else if (!strcmp(key, "HOSTNAME")) c->hostname = value;
    else if (!strcmp(key, "CWD")) c->cwd = value;
    else if (!strcmp(key, "SECCOMP")) c->seccomp_path = *value ? value : NULL;
    else if (!strcmp(key, "LOWER")) PUSH(c->lower, c->nlower, MAX_LIST, value);
    else if (!strcmp(key, "LOWERBASE")) c->lower_base = value;
    else if (!strcmp(key, "UPPER")) c->upper = value;
    else if (!strcmp(key, "WORK")) c->work = value;
    else if (!strcmp(key, "MERGED")) c->merged = value;
    else if (!strcmp(key, "READONLY")) c->readonly_rootfs = !strcmp(value, "1");
    else if (!strcmp(key, "NET")) c->host_network = !strcmp(value, "host");
    else if (!strcmp(key, "NETADDR")) c->net_address = value;
    else if (!strcmp(key, "NETGW")) c->net_gateway = value;
    else if (!strcmp(key, "NETMTU")) {
        if (parse_u64(value, &n) || n < 68 || n > 65535) return fail("bad MTU", value);
        c->net_mtu = (unsigned int)n;
    }
    else if (!strcmp(key, "NNP")) c->no_new_privileges = !strcmp(value, "1");
    else if (!strcmp(key, "INIT")) c->init = !strcmp(value, "1");
    else if (!strcmp(key, "TTY")) c->tty = !strcmp(value, "1");
    else if (!strcmp(key, "STDIN")) c->open_stdin = !strcmp(value, "1");
    else if (!strcmp(key, "AUTOREMOVE")) c->auto_remove = !strcmp(value, "1");
    else if (!strcmp(key, "NAMELINK")) c->name_link = value;
    else if (!strcmp(key, "ROWS") || !strcmp(key, "COLS")) {
        if (parse_u64(value, &n) || n > 65535) return fail("bad terminal size", value);
        *(key[0] == 'R' ? &c->rows : &c->cols) = (unsigned short)n;
    }
    else if (!strcmp(key, "ARG")) PUSH(c->argv, c->nargv, MAX_LIST, value);
    else if (!strcmp(key, "ENV")) PUSH(c->env, c->nenv, MAX_LIST, value);
    else if (!strcmp(key, "UID")) {
        if (parse_u64(value, &n) || n > 0xfffffffeULL) return fail("bad UID", value);
        c->uid = (uid_t)n;
    } else if (!strcmp(key, "GID")) {
        if (parse_u64(value, &n) || n > 0xfffffffeULL) return fail("bad GID", value);
        c->gid = (gid_t)n;
    } else if (!strcmp(key, "GROUP")) {
        if (parse_u64(value, &n) || n > 0xfffffffeULL) return fail("bad GROUP", value);
        PUSH(c->groups, c->ngroups, 64, (gid_t)n);
    } else if (!strcmp(key, "CAPS")) {
        if (parse_u64(value, &n)) return fail("bad CAPS", value);
        c->caps = n;
    } else if (!strcmp(key, "STOPSIGNAL")) {
        if (parse_u64(value, &n) || n < 1 || n > 64) return fail("bad STOPSIGNAL", value);
        c->stop_signal = (int)n;
    } else if (!strcmp(key, "STOPTIMEOUT")) {
        if (parse_u64(value, &n) || n > 86400) return fail("bad STOPTIMEOUT", value);
        c->stop_timeout = (int)n;
    } else if (!strcmp(key, "MOUNT")) {
        char *f[5];
        if (split_fields(value, f, 5) != 5) return fail("MOUNT needs type, source, target, flags, data", NULL);
        if (c->nmounts >= MAX_LIST) return fail("too many mounts", NULL);
        if (parse_u64(f[3], &n)) return fail("bad MOUNT flags", f[3]);
        if (f[2][0] != '/') return fail("MOUNT target must be absolute", f[2]);
        c->mounts[c->nmounts++] = (struct mount_entry){f[0], f[1], f[2], (unsigned long)n, f[4]};
    } else if (!strcmp(key, "MASK")) PUSH(c->masked, c->nmasked, 64, value);
    else if (!strcmp(key, "RO")) PUSH(c->readonly, c->nreadonly, 64, value);
    else if (!strcmp(key, "SYSCTL")) PUSH(c->sysctls, c->nsysctls, 64, value);
    else if (!strcmp(key, "RLIMIT")) {
        char *f[3];
        uint64_t r, soft, hard;
        if (split_fields(value, f, 3) != 3 || parse_u64(f[0], &r) || parse_u64(f[1], &soft) ||
            parse_u64(f[2], &hard))
            return fail("bad RLIMIT", NULL);
        if (c->nrlimits >= 32) return fail("too many rlimits", NULL);
        c->rlimits[c->nrlimits++] = (struct rlimit_entry){(int)r, soft, hard};
    } else
        return fail("unknown key", key);
    return 0;
}

int config_load(const char *path, struct config *c) {
    memset(c, 0, sizeof *c);
    c->stop_signal = 15;
    c->stop_timeout = 10;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail(strerror(errno), path);
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_size > (16 << 20)) {
        close(fd);
        return fail("unreadable or too large", path);
    }
    c->buffer = malloc((size_t)st.st_size + 1);
    if (!c->buffer) return fail("out of memory", NULL);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, c->buffer + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    c->buffer[got] = 0;
    if (config_parse(c->buffer, got, c) < 0) return -1;
    if (!c->id || !c->name || !c->state_path || !c->merged || c->nlower == 0 || c->nargv == 0)
        return fail("ID, NAME, STATE, MERGED, LOWER and ARG are required", NULL);
    if (c->nlower > 0 && (!c->upper || !c->work) && !c->readonly_rootfs)
        return fail("UPPER and WORK are required for a writable root", NULL);
    return 0;
}

int config_parse(char *buffer, size_t len, struct config *c) {
    for (char *p = buffer; p < buffer + len;) {
        size_t n = strnlen(p, (size_t)(buffer + len - p));
        if (p + n == buffer + len) return fail("record without its NUL", NULL);
        char *eq = strchr(p, '=');
        if (!eq) return fail("record without '='", p);
        *eq = 0;
        if (apply(c, p, eq + 1) < 0) return -1;
        p += n + 1;
    }
    c->argv[c->nargv] = NULL;
    c->env[c->nenv] = NULL;
    return 0;
}
