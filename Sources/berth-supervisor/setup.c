#include "setup.h"
#include "oom.h"
#include "netsetup.h"

#include "message.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int error_pipe = -1;

static void die_with(int exit_code, int err, const char *fmt, ...) __attribute__((noreturn, format(printf, 3, 4)));
static void die_with(int exit_code, int err, const char *fmt, ...) {
    struct setup_error e = {.exit_code = exit_code, .err = err};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.message, sizeof e.message, fmt, ap);
    va_end(ap);
    if (err) {
        size_t n = strlen(e.message);
        snprintf(e.message + n, sizeof e.message - n, ": %s", strerror(err));
    }
    if (write(error_pipe, &e, sizeof e) < 0) { /* nothing more to do */ }
    _exit(exit_code);
}

#define CHECK(call, ...)                                  \
    do {                                                  \
        if ((call) < 0) die_with(125, errno, __VA_ARGS__); \
    } while (0)

static int openat2_in_root(int rootfd, const char *path, int flags, mode_t mode) {
    struct open_how how = {.flags = (uint64_t)flags | O_CLOEXEC, .mode = mode,
                           .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
    while (*path == '/') path++;
    if (!*path) path = ".";
    return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
}

/* Opens `path` inside the root, symlinks resolved as if the root were "/" (so a link planted
 * in an image can never send a mount onto the host), creating it (as a directory, or an empty
 * file) with its missing parents when asked. Returns an O_PATH fd. */
static int resolve_in_root(int rootfd, const char *path, bool create, bool directory) {
    int fd = openat2_in_root(rootfd, path, O_PATH, 0);
    if (fd >= 0 || errno != ENOENT || !create) return fd;
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    /* Create each missing component, each time resolving its parent safely. */
    for (char *p = buf + 1;; p++) {
        bool last = (*p == 0);
        if (*p != '/' && !last) continue;
        char saved = *p;
        *p = 0;
        int existing = openat2_in_root(rootfd, buf, O_PATH, 0);
        if (existing >= 0) {
            close(existing);
        } else if (errno == ENOENT) {
            char *slash = strrchr(buf, '/');
            *slash = 0;
            int parent = openat2_in_root(rootfd, *buf ? buf : "/", O_PATH | O_DIRECTORY, 0);
            *slash = '/';
            if (parent < 0) return -1;
            int r;
            if (!last || directory) {
                r = mkdirat(parent, slash + 1, 0755);
            } else {
                r = openat(parent, slash + 1, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
                if (r >= 0) close(r);
            }
            close(parent);
            if (r < 0 && errno != EEXIST) return -1;
        } else {
            return -1;
        }
        *p = saved;
        if (last) break;
    }
    return openat2_in_root(rootfd, path, O_PATH, 0);
}

static const char *fd_path(int fd, char *buf, size_t size) {
    snprintf(buf, size, "/proc/self/fd/%d", fd);
    return buf;
}

static void do_mount(int rootfd, const struct mount_entry *m) {
    char where[64];
    if (!strcmp(m->type, "symlink")) {
        /* source is the link's content; the link is made in its (safely resolved) parent */
        char buf[4096];
        snprintf(buf, sizeof buf, "%s", m->target);
        char *slash = strrchr(buf, '/');
        *slash = 0;
        int parent = resolve_in_root(rootfd, *buf ? buf : "/", true, true);
        if (parent < 0) die_with(125, errno, "cannot resolve %s", m->target);
        int dir = openat(parent, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir < 0) {
            /* O_PATH fds cannot be used with symlinkat on every kernel: go through /proc */
            dir = open(fd_path(parent, where, sizeof where), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        }
        close(parent);
        if (symlinkat(m->source, dir, slash + 1) < 0 && errno != EEXIST)
            die_with(125, errno, "cannot create the symlink %s", m->target);
        close(dir);
        return;
    }
    bool bind = !strcmp(m->type, "bind") || !strcmp(m->type, "dev");
    bool directory = true;
    if (bind) {
        struct stat st;
        if (stat(m->source, &st) < 0) die_with(125, errno, "cannot mount %s", m->source);
        directory = S_ISDIR(st.st_mode);
    }
    int target = resolve_in_root(rootfd, m->target, true, directory);
    if (target < 0) die_with(125, errno, "cannot resolve the mount target %s", m->target);
    fd_path(target, where, sizeof where);
    if (bind) {
        unsigned long extra = m->flags & ~(unsigned long)(MS_BIND | MS_REC);
        if (mount(m->source, where, NULL, MS_BIND | MS_REC, NULL) < 0)
            die_with(125, errno, "cannot bind %s to %s", m->source, m->target);
        if (extra) {
            /* read-only (and nosuid...) take a remount of the new bind mount itself */
            close(target);
            target = resolve_in_root(rootfd, m->target, false, directory);
            fd_path(target, where, sizeof where);
            if (mount(NULL, where, NULL, MS_REMOUNT | MS_BIND | extra, NULL) < 0)
                die_with(125, errno, "cannot remount %s", m->target);
        }
    } else if (mount(m->type, where, m->type, m->flags, *m->data ? m->data : NULL) < 0) {
        die_with(125, errno, "cannot mount %s on %s", m->type, m->target);
    }
    close(target);
}

/* Docker's masked paths: /dev/null over files, an empty read-only tmpfs over directories. */
static void mask_path(int rootfd, const char *path) {
    int fd = resolve_in_root(rootfd, path, false, false);
    if (fd < 0) return; /* absent: nothing to hide */
    struct stat st;
    char where[64];
    fstat(fd, &st);
    fd_path(fd, where, sizeof where);
    if (S_ISDIR(st.st_mode)) {
        CHECK(mount("tmpfs", where, "tmpfs", MS_RDONLY, "size=0"), "cannot mask %s", path);
    } else {
        CHECK(mount("/dev/null", where, NULL, MS_BIND, NULL), "cannot mask %s", path);
    }
    close(fd);
}

static void readonly_path(int rootfd, const char *path) {
    int fd = resolve_in_root(rootfd, path, false, false);
    if (fd < 0) return;
    char where[64];
    fd_path(fd, where, sizeof where);
    CHECK(mount(where, where, NULL, MS_BIND | MS_REC, NULL), "cannot bind %s", path);
    close(fd);
    fd = resolve_in_root(rootfd, path, false, false);
    fd_path(fd, where, sizeof where);
    CHECK(mount(NULL, where, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL),
          "cannot make %s read-only", path);
    close(fd);
}

static void write_sysctl(int rootfd, const char *entry) {
    char key[256], path[300];
    const char *eq = strchr(entry, '=');
    if (!eq || (size_t)(eq - entry) >= sizeof key) die_with(125, 0, "bad sysctl %s", entry);
    memcpy(key, entry, (size_t)(eq - entry));
    key[eq - entry] = 0;
    for (char *p = key; *p; p++)
        if (*p == '.') *p = '/';
    snprintf(path, sizeof path, "proc/sys/%s", key);
    int fd = openat(rootfd, path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) die_with(125, errno, "cannot set sysctl %.*s", (int)(eq - entry), entry);
    size_t len = strlen(eq + 1);
    if (write(fd, eq + 1, len) != (ssize_t)len) die_with(125, errno, "cannot set sysctl %s", entry);
    close(fd);
}

static void set_capabilities(const struct config *c) {
    int last = 40;
    FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
    if (f) {
        if (fscanf(f, "%d", &last) != 1) last = 40;
        fclose(f);
    }
    for (int cap = 0; cap <= last; cap++) {
        if (!(c->caps & (1ULL << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
            die_with(125, errno, "cannot drop capability %d from the bounding set", cap);
    }
}

static void apply_caps_after_user(const struct config *c) {
    struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    /* As Docker: root keeps the set in effective and permitted; other users start with none
     * (the bounding set still limits what a setuid program can gain). Inheritable and ambient
     * stay empty. */
    uint64_t set = c->uid == 0 ? c->caps : 0;
    data[0].effective = data[0].permitted = (uint32_t)set;
    data[1].effective = data[1].permitted = (uint32_t)(set >> 32);
    CHECK((int)syscall(SYS_capset, &header, data), "cannot set capabilities");
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        die_with(125, errno, "cannot clear ambient capabilities");
}

static void load_seccomp(const struct sock_fprog *prog) {
    if (prog && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, prog, 0, 0) < 0)
        die_with(125, errno, "cannot load the seccomp filter");
}

bool setup_failed(int error_fd, pid_t child, struct setup_error *failure) {
    ssize_t got;
    do got = read(error_fd, failure, sizeof *failure);
    while (got < 0 && errno == EINTR);
    close(error_fd);
    if (got != (ssize_t)sizeof *failure) return false;
    /* the child has exited with the same code */
    waitpid(child, NULL, 0);
    failure->message[sizeof failure->message - 1] = 0;
    return true;
}

struct sock_fprog *seccomp_read(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    struct stat st;
    struct sock_fprog *prog = NULL;
    if (fstat(fd, &st) < 0 || st.st_size == 0 || st.st_size % sizeof(struct sock_filter) ||
        st.st_size > 65535 * (off_t)sizeof(struct sock_filter)) {
        errno = EINVAL;
    } else if ((prog = malloc(sizeof *prog)) && (prog->filter = malloc((size_t)st.st_size))) {
        prog->len = (unsigned short)(st.st_size / sizeof(struct sock_filter));
        if (read(fd, prog->filter, (size_t)st.st_size) != st.st_size) {
            free(prog->filter);
            free(prog);
            prog = NULL;
            errno = EIO;
        }
    }
    close(fd);
    return prog;
}

static const char *env_get(const struct config *c, const char *name) {
    size_t n = strlen(name);
    for (size_t i = 0; i < c->nenv; i++)
        if (!strncmp(c->env[i], name, n) && c->env[i][n] == '=') return c->env[i] + n + 1;
    return NULL;
}

/* execve with a PATH search in the container's own PATH, as Docker does; returns the errno. */
static int exec_command(const struct config *c) {
    const char *file = c->argv[0];
    if (strchr(file, '/')) {
        execve(file, (char *const *)c->argv, (char *const *)c->env);
        return errno;
    }
    const char *path = env_get(c, "PATH");
    if (!path) path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    int err = ENOENT;
    char full[4096];
    for (const char *p = path;;) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        snprintf(full, sizeof full, "%.*s/%s", (int)len, len ? p : ".", file);
        execve(full, (char *const *)c->argv, (char *const *)c->env);
        if (errno != ENOENT && errno != ENOTDIR) err = errno; /* e.g. EACCES: remember it */
        if (!end) break;
        p = end + 1;
    }
    return err;
}

/* The small init of `--init`: PID 1 that forwards signals to the command and reaps zombies. */
static void run_init(const struct config *c, sigset_t *all) {
    pid_t child = fork();
    if (child < 0) die_with(125, errno, "cannot fork the init's child");
    if (child == 0) {
        sigprocmask(SIG_SETMASK, &(sigset_t){0}, NULL);
        int err = exec_command(c);
        die_with(err == ENOENT ? 127 : 126, err, "cannot run %s", c->argv[0]);
    }
    close(error_pipe); /* the child holds it until its exec */
    for (;;) {
        int sig;
        if (sigwait(all, &sig) != 0) continue;
        if (sig != SIGCHLD) {
            kill(child, sig);
            continue;
        }
        int status;
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
            if (pid == child) _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        }
    }
}

/* A new pseudo-terminal from the devpts mounted at /dev/pts (the container's, once inside
 * it): returns its terminal side; *master gets the other. As Docker, the terminal belongs to
 * the process's user. */
static int open_terminal(const struct winsize *size, uid_t uid, int *master) {
    *master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (*master < 0) die_with(125, errno, "cannot open /dev/ptmx");
    int unlock = 0, n;
    CHECK(ioctl(*master, TIOCSPTLCK, &unlock), "cannot unlock the terminal");
    CHECK(ioctl(*master, TIOCGPTN, &n), "cannot name the terminal");
    char path[64];
    snprintf(path, sizeof path, "/dev/pts/%d", n);
    int terminal = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (terminal < 0) die_with(125, errno, "cannot open %s", path);
    if (fchown(terminal, uid, (gid_t)-1) < 0) die_with(125, errno, "cannot give %s to uid %u", path, uid);
    if (size && size->ws_row && size->ws_col) ioctl(terminal, TIOCSWINSZ, size);
    return terminal;
}

/* The terminal becomes the process's stdin, stdout, stderr and controlling terminal. */
static void use_terminal(int terminal) {
    CHECK(setsid(), "setsid");
    CHECK(ioctl(terminal, TIOCSCTTY, 0), "cannot make the terminal the controlling one");
    for (int fd = 0; fd <= 2; fd++) CHECK(dup2(terminal, fd), "dup2");
    if (terminal > 2) close(terminal);
}

/* What a container's first process and `berth exec` share, from the limits to the exec:
 * rlimits, capabilities, seccomp, user, working directory. */
static void __attribute__((noreturn)) enter_process(const struct config *c, const struct sock_fprog *filter) {
    oom_apply_container();
    for (size_t i = 0; i < c->nrlimits; i++) {
        struct rlimit rl = {c->rlimits[i].soft == UINT64_MAX ? RLIM_INFINITY : c->rlimits[i].soft,
                            c->rlimits[i].hard == UINT64_MAX ? RLIM_INFINITY : c->rlimits[i].hard};
        CHECK(setrlimit(c->rlimits[i].resource, &rl), "cannot set rlimit %d", c->rlimits[i].resource);
    }

    set_capabilities(c);
    /* Without no_new_privs the filter needs CAP_SYS_ADMIN to load, so it goes in before the
     * user change drops it (Docker's profile allows the calls that follow). */
    if (!c->no_new_privileges) load_seccomp(filter);
    CHECK(prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0), "PR_SET_KEEPCAPS");
    CHECK(setgroups(c->ngroups, c->groups), "cannot set supplementary groups");
    CHECK(setresgid(c->gid, c->gid, c->gid), "cannot set gid %u", c->gid);
    CHECK(setresuid(c->uid, c->uid, c->uid), "cannot set uid %u", c->uid);
    CHECK(prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0), "PR_SET_KEEPCAPS");
    apply_caps_after_user(c);
    if (c->no_new_privileges) {
        CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "cannot set no_new_privs");
        load_seccomp(filter);
    }
    if (c->cwd && chdir(c->cwd) < 0) die_with(126, errno, "cannot enter the working directory %s", c->cwd);

    if (c->init) {
        sigset_t all;
        sigfillset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        run_init(c, &all);
    }
    int err = exec_command(c);
    die_with(err == ENOENT ? 127 : 126, err, "cannot run %s", c->argv[0]);
}

static void reset_signals(void) {
    for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

void container_main(const struct config *c, int error_fd, int proceed_fd, const struct sock_fprog *filter,
                    int console_fd, const struct winsize *size) {
    error_pipe = error_fd;
    reset_signals();

    CHECK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), "cannot make the mounts private");
    /* The container's root: an overlay of the read-only image layers and its own upper dir.
     * redirect_dir, index and metacopy off: layers must not depend on overlay metadata. */
    char options[4096];
    size_t n = (size_t)snprintf(options, sizeof options, "lowerdir=");
    for (size_t i = 0; i < c->nlower; i++)
        n += (size_t)snprintf(options + n, sizeof options - n, "%s%s", i ? ":" : "", c->lower[i]);
    n += (size_t)snprintf(options + n, sizeof options - n,
                          ",upperdir=%s,workdir=%s,redirect_dir=off,index=off,metacopy=off", c->upper, c->work);
    if (n >= sizeof options) die_with(125, ENAMETOOLONG, "overlay options do not fit one page");
    /* Relative layer names resolve from here (this process's own working directory: it has one
     * thread); the root's pivot later leaves it. */
    if (c->lower_base) CHECK(chdir(c->lower_base), "cannot enter %s", c->lower_base);
    CHECK(mount("overlay", c->merged, "overlay", 0, options), "cannot mount the root filesystem overlay");
    int rootfd = open(c->merged, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) die_with(125, errno, "cannot open %s", c->merged);

    for (size_t i = 0; i < c->nmounts; i++) do_mount(rootfd, &c->mounts[i]);
    for (size_t i = 0; i < c->nsysctls; i++) write_sysctl(rootfd, c->sysctls[i]);
    for (size_t i = 0; i < c->nmasked; i++) mask_path(rootfd, c->masked[i]);
    for (size_t i = 0; i < c->nreadonly; i++) readonly_path(rootfd, c->readonly[i]);
    if (c->cwd) {
        int fd = resolve_in_root(rootfd, c->cwd, true, true);
        if (fd < 0) die_with(125, errno, "cannot create the working directory %s", c->cwd);
        close(fd);
    }
    if (c->hostname) CHECK(sethostname(c->hostname, strlen(c->hostname)), "cannot set the hostname");

    /* pivot_root into the new root and detach the old one, as runc does with "." for both. */
    CHECK(fchdir(rootfd), "cannot enter %s", c->merged);
    CHECK((int)syscall(SYS_pivot_root, ".", "."), "pivot_root");
    CHECK(umount2(".", MNT_DETACH), "cannot detach the old root");
    CHECK(chdir("/"), "chdir /");
    close(rootfd);
    if (c->readonly_rootfs) CHECK(mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL), "cannot make / read-only");

    if (c->tty) {
        /* From the container's own devpts, so /dev/pts inside shows it; the master goes to
         * the supervisor, which relays it. */
        int master;
        int terminal = open_terminal(size, c->uid, &master);
        if (message_send(console_fd, "tty", 3, &master, 1) < 0) die_with(125, errno, "cannot pass the terminal");
        close(master);
        close(console_fd);
        use_terminal(terminal);
    }
    /* From here on inside the scope: the supervisor says so once berth has put us there. */
    char go;
    ssize_t r;
    do r = read(proceed_fd, &go, 1);
    while (r < 0 && errno == EINTR);
    if (r != 1) _exit(125);
    close(proceed_fd);
    /* berth has made this namespace's end of the veth (eth0) by now, before "proceed". */
    if (!c->host_network) {
        const char *what;
        if (net_setup(c, &what) < 0) die_with(125, errno, "%s", what);
    }
    CHECK(unshare(CLONE_NEWCGROUP), "cannot create the cgroup namespace");
    enter_process(c, filter);
}

void exec_main(const struct config *c, pid_t target, int error_fd, const struct sock_fprog *filter,
               int client, const int stdio[3], const struct winsize *size) {
    error_pipe = error_fd;
    reset_signals();
    /* The PID namespace is already the container's: the supervisor joined it for its children.
     * Every namespace fd is opened before the mount namespace changes what /proc is. */
    static const struct {
        const char *name;
        int type;
    } namespaces[] = {{"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS}, {"net", CLONE_NEWNET},
                      {"cgroup", CLONE_NEWCGROUP}, {"mnt", CLONE_NEWNS}};
    int fds[5];
    for (int i = 0; i < 5; i++) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/ns/%s", target, namespaces[i].name);
        fds[i] = open(path, O_RDONLY | O_CLOEXEC);
        if (fds[i] < 0) die_with(125, errno, "cannot open %s", path);
    }
    for (int i = 0; i < 5; i++) {
        if (setns(fds[i], namespaces[i].type) < 0)
            die_with(125, errno, "cannot join the container's %s namespace", namespaces[i].name);
        close(fds[i]);
    }
    /* Joining the mount namespace set the root and working directory to its root. */
    if (c->tty) {
        int master;
        int terminal = open_terminal(size, c->uid, &master);
        if (message_send(client, "tty", 3, &master, 1) < 0) die_with(125, errno, "cannot pass the terminal");
        close(master);
        use_terminal(terminal);
    } else {
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        for (int fd = 0; fd <= 2; fd++) CHECK(dup2(stdio[fd] >= 0 ? stdio[fd] : null, fd), "dup2");
    }
    close(client);
    enter_process(c, filter);
}
