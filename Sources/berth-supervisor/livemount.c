#include "livemount.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* From <sys/mount.h>, which cannot be included beside <linux/mount.h> with this glibc. */
#ifndef MNT_DETACH
#define MNT_DETACH 2
#endif
#ifndef UMOUNT_NOFOLLOW
#define UMOUNT_NOFOLLOW 8
#endif

/* The child's failure, written to the pipe before it exits. */
static void child_fail(int report, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 64, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if ((size_t)n > sizeof buf - 64) n = (int)(sizeof buf - 64);
    n += snprintf(buf + n, sizeof buf - (size_t)n, ": %s", strerror(errno));
    if (write(report, buf, (size_t)n) < 0) { /* nothing more to tell */
    }
    _exit(1);
}

/* Joins the container's mount namespace and makes its root ours: fds opened before setns. */
static void enter(int report, int nsfd, int rootfd) {
    if (setns(nsfd, CLONE_NEWNS) < 0) child_fail(report, "cannot join the container's mount namespace");
    if (fchdir(rootfd) < 0 || chroot(".") < 0 || chdir("/") < 0) child_fail(report, "cannot enter the container's root");
}

/* mkdir -p inside the container's root (after enter), the last component a directory or, for
 * a file's mount, an empty file. Symlinks resolve inside the root (it is ours now). */
static void make_target(int report, const char *target, bool directory) {
    char path[4096];
    if (strlen(target) >= sizeof path) child_fail(report, "the target path is too long");
    strcpy(path, target);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(path, 0755) < 0 && errno != EEXIST) child_fail(report, "cannot make %s", path);
        *p = '/';
    }
    if (directory) {
        if (mkdir(path, 0755) < 0 && errno != EEXIST) child_fail(report, "cannot make %s", path);
    } else {
        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0 && errno != EEXIST) child_fail(report, "cannot make %s", path);
        if (fd >= 0) close(fd);
    }
}

/* Forks a child for `body`, waits for it, and collects its message. This process has one
 * thread, so the fork is safe. */
static int in_child(pid_t container, const char *source, const char *target, bool readonly, bool mount, char *err,
                    size_t errlen) {
    char ns[64], rootpath[64];
    snprintf(ns, sizeof ns, "/proc/%d/ns/mnt", container);
    snprintf(rootpath, sizeof rootpath, "/proc/%d/root", container);
    int nsfd = open(ns, O_RDONLY | O_CLOEXEC);
    int rootfd = open(rootpath, O_PATH | O_DIRECTORY | O_CLOEXEC);
    int pipefd[2];
    if (nsfd < 0 || rootfd < 0 || pipe2(pipefd, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "cannot reach the container's namespaces: %s", strerror(errno));
        if (nsfd >= 0) close(nsfd);
        if (rootfd >= 0) close(rootfd);
        return 125;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(pipefd[0]);
        int report = pipefd[1];
        if (mount) {
            struct stat st;
            if (stat(source, &st) < 0) child_fail(report, "cannot use %s", source);
            int tree = (int)syscall(SYS_open_tree, AT_FDCWD, source,
                                    OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
            if (tree < 0) child_fail(report, "open_tree %s", source);
            if (readonly) {
                struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV};
                if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0)
                    child_fail(report, "cannot make %s read-only", source);
            }
            enter(report, nsfd, rootfd);
            make_target(report, target, S_ISDIR(st.st_mode));
            if (syscall(SYS_move_mount, tree, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
                child_fail(report, "cannot mount %s at %s", source, target);
        } else {
            enter(report, nsfd, rootfd);
            if (syscall(SYS_umount2, target, MNT_DETACH | UMOUNT_NOFOLLOW) < 0) child_fail(report, "cannot unmount %s", target);
        }
        _exit(0);
    }
    int saved = errno;
    close(pipefd[1]);
    close(nsfd);
    close(rootfd);
    if (pid < 0) {
        close(pipefd[0]);
        snprintf(err, errlen, "fork: %s", strerror(saved));
        return 125;
    }
    ssize_t n, got = 0;
    while ((n = read(pipefd[0], err + got, errlen - 1 - (size_t)got)) > 0 || (n < 0 && errno == EINTR))
        if (n > 0) got += n;
    err[got] = 0;
    close(pipefd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
    if (!got) snprintf(err, errlen, "the mount helper failed");
    return 125;
}

int live_mount(pid_t container, const char *source, const char *target, bool readonly, char *err, size_t errlen) {
    return in_child(container, source, target, readonly, true, err, errlen);
}

int live_unmount(pid_t container, const char *target, char *err, size_t errlen) {
    return in_child(container, NULL, target, false, false, err, errlen);
}
