#include <archive.h>
#include <archive_entry.h>

/* What unpacking a layer needs beside libarchive, which Swift's Glibc module does not import:
 * extended attributes, and makedev (a macro). */
#include <sys/sysmacros.h>
#include <sys/xattr.h>

static inline unsigned long berth_makedev(unsigned int major, unsigned int minor) { return makedev(major, minor); }

/* syncfs is a GNU extension, not declared without _GNU_SOURCE. */
extern int syncfs(int fd);
static inline int berth_syncfs(int fd) { return syncfs(fd); }
