#ifndef BERTH_CSECCOMP_SHIM_H
#define BERTH_CSECCOMP_SHIM_H

#include <seccomp.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Function-like macros of seccomp.h that Swift cannot import. */
static inline uint32_t berth_scmp_act_errno(uint16_t err) { return SCMP_ACT_ERRNO(err); }
static inline uint32_t berth_scmp_act_trace(uint16_t msg) { return SCMP_ACT_TRACE(msg); }

/* Architecture tokens are AUDIT_ARCH_* expressions, which Swift cannot import either. */
static inline uint32_t berth_scmp_arch_x86_64(void) { return SCMP_ARCH_X86_64; }
static inline uint32_t berth_scmp_arch_aarch64(void) { return SCMP_ARCH_AARCH64; }

/* An anonymous file for seccomp_export_bpf (libseccomp 2.5 cannot export to memory), through
   the raw system call so no feature-test macro is needed; MFD_CLOEXEC is 1. */
static inline int berth_seccomp_memfd(void) {
    return (int)syscall(SYS_memfd_create, "berth-seccomp", 1U);
}

#endif
