// Symmetric static data: the executable's .data and .bss, shared between
// the PEs of a node (static.go runs the exchange).
//
// At shmem_init a process PE copies its writable data into a memory file
// and maps that file over the same addresses (MAP_FIXED|MAP_SHARED): the
// program keeps its addresses and values, and its peers on the node map
// the same file elsewhere (through /proc/PID/fd, see static.go) to reach
// its globals with plain loads and stores, as they reach its heap.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "gs.h"

#ifndef F_SEAL_SEAL
#define F_SEAL_SEAL 0x0001
#define F_SEAL_SHRINK 0x0002
#define F_SEAL_GROW 0x0004
#endif
#ifndef F_ADD_SEALS
#define F_ADD_SEALS 1033
#endif

struct gs_seg {
    uintptr_t start, end, bias;
    int found;
};

/* The first object dl_iterate_phdr reports is the main program: its
 * writable PT_LOAD segment past its PT_GNU_RELRO part (which the dynamic
 * linker makes read-only) is .data and .bss. */
static int gs_seg_of_main(struct dl_phdr_info *info, size_t size, void *arg) {
    struct gs_seg *g = arg;
    (void)size;
    uintptr_t relro = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_GNU_RELRO) {
            relro = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
        }
    }
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W) || ph->p_memsz == 0) {
            continue;
        }
        uintptr_t start = info->dlpi_addr + ph->p_vaddr, end = start + ph->p_memsz;
        if (relro > start && relro <= end) {
            start = relro;
        }
        /* The page that holds the end of RELRO stays writable: the
         * dynamic linker protects whole pages below it only. */
        uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
        g->start = start & ~(pg - 1);
        g->end = (end + pg - 1) & ~(pg - 1);
        g->bias = info->dlpi_addr;
        g->found = g->end > g->start;
        break;
    }
    return 1;
}

/* gs_static_find sets [*start, *start+*size) to the main program's
 * writable data, page aligned, and *rel to its start relative to the
 * program's load address (the same on every PE that runs the same
 * executable); it returns 0, or -1 when the program has none. */
GS_HIDDEN int gs_static_find(char **start, uintptr_t *size, uintptr_t *rel) {
    struct gs_seg g = {0};
    dl_iterate_phdr(gs_seg_of_main, &g);
    if (!g.found) {
        return -1;
    }
    *start = (char *)g.start;
    *size = g.end - g.start;
    *rel = g.start - g.bias;
    return 0;
}

static int gs_zero_page(const char *p, size_t n) {
    const uint64_t *w = (const uint64_t *)p;
    for (size_t i = 0; i < n / 8; i++) {
        if (w[i] != 0) {
            return 0;
        }
    }
    return 1;
}

/* gs_static_share moves the size bytes at start into a new memory file
 * named name and maps the file over them, shared: the same addresses, the
 * same values. It returns the file's descriptor (close-on-exec, its size
 * sealed), or -errno with *step naming what failed; the data is left as it
 * was unless the final mmap failed. Pages of zeros are not copied: the file
 * stays sparse for a large .bss. No other thread may store into the data
 * meanwhile (shmem_init runs before the program's threads touch it). */
GS_HIDDEN int gs_static_share(char *start, size_t size, const char *name, const char **step) {
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    *step = "memfd_create";
    int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) {
        return -errno;
    }
    *step = "ftruncate";
    if (ftruncate(fd, (off_t)size) != 0) {
        goto fail;
    }
    *step = "write";
    for (size_t off = 0; off < size; off += pg) {
        if (gs_zero_page(start + off, pg)) {
            continue;
        }
        for (size_t done = 0; done < pg;) {
            /* The system call itself, not libc's pwrite: a program built
             * with AddressSanitizer intercepts pwrite and reports the
             * redzones between its globals, which this copy must read. */
            ssize_t w = syscall(SYS_pwrite64, fd, start + off + done, pg - done, (off_t)(off + done));
            if (w < 0 && errno == EINTR) {
                continue;
            }
            if (w <= 0) {
                if (w == 0) {
                    errno = EIO;
                }
                goto fail;
            }
            done += (size_t)w;
        }
    }
    /* Sealed, no peer can shrink the file under the others' mappings. */
    *step = "seal";
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
        goto fail;
    }
    *step = "mmap over the data";
    if (mmap(start, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED) {
        goto fail;
    }
    return fd;
fail:;
    int e = errno;
    close(fd);
    return -e;
}

/* ---- the C side of accesses to static data ---- */

/* gs_static_sym says whether the n bytes at p are the program's static
 * data, usable as symmetric objects; it fails when p is static data but
 * the bytes run past it or static data is not symmetric here. */
int gs_static_sym(gs_pe *s, const char *call, const char *what, const void *p, size_t n) {
    uintptr_t d = (uintptr_t)p - (uintptr_t)s->data;
    if (s->data == NULL || d >= s->data_size) {
        return 0;
    }
    if (n > s->data_size - d) {
        gs_fatal(s, call, "%s %p: %zu bytes run past the end of the program's static data [%p, %p)", what, p, n,
                 (void *)s->data, (void *)(s->data + s->data_size));
    }
    if (s->data_why != NULL) {
        gs_fatal(s, call, "%s %p is a global or static variable, which is not symmetric here: %s", what, p,
                 s->data_why);
    }
    return 1;
}

/* gs_static_target returns PE pe's copy of the static data at p, which
 * gs_static_sym accepted, or fails naming the PE. */
char *gs_static_target(gs_pe *s, const char *call, const char *what, const void *p, int pe) {
    char *b = s->data_base != NULL ? s->data_base[pe] : NULL;
    if (GS_UNLIKELY(b == NULL)) {
        gs_fatal(s, call,
                 "%s %p is a global or static variable, and PE %d's copy is not mapped here (it runs on another "
                 "node): allocate what PEs of other nodes access with shmem_malloc",
                 what, p, pe);
    }
    return b + ((uintptr_t)p - (uintptr_t)s->data);
}

/* gs_static_ptr is shmem_ptr for static data: NULL where it is not. */
void *gs_static_ptr(gs_pe *s, const void *p, int pe) {
    uintptr_t d = (uintptr_t)p - (uintptr_t)s->data;
    if (s->data == NULL || d >= s->data_size || s->data_why != NULL || s->data_base == NULL ||
        s->data_base[pe] == NULL) {
        return NULL;
    }
    return s->data_base[pe] + d;
}

/* gs_world is the world number of the target PE pe of ctx (checked). */
static int gs_world(shmem_ctx_t ctx, int pe) {
    if (ctx == SHMEM_CTX_DEFAULT || ctx->size == 0) {
        return pe;
    }
    return ctx->start + pe * ctx->stride;
}

/* gs_static_rma is gs_go_rma for static data (off >= s->size): a copy in
 * C, complete when it returns, the non-blocking kinds too. */
void gs_static_rma(gs_pe *s, shmem_ctx_t ctx, const char *call, int kind, int pe, uintptr_t off, void *local,
                   size_t n) {
    int w = gs_world(ctx, pe);
    const char *p = (const char *)((uintptr_t)s->local + off);
    if (kind == GS_PUT || kind == GS_PUT_NBI) {
        memcpy(gs_static_target(s, call, "dest", p, w), local, n);
        gs_notify(s, w, off, n);
        return;
    }
    memcpy(local, gs_static_target(s, call, "source", p, w), n);
}

/* gs_static_strided is gs_go_strided for static data. */
void gs_static_strided(gs_pe *s, shmem_ctx_t ctx, const char *call, int put, int pe, uintptr_t off, char *local,
                       ptrdiff_t dst, ptrdiff_t sst, size_t nelems, size_t size) {
    int w = gs_world(ctx, pe);
    const char *p = (const char *)((uintptr_t)s->local + off);
    if (put) {
        char *d = gs_static_target(s, call, "dest", p, w);
        for (size_t i = 0; i < nelems; i++) {
            memcpy(d + i * dst * size, local + i * sst * size, size);
        }
        gs_notify(s, w, off, (nelems - 1) * dst * size + size);
        return;
    }
    const char *src = gs_static_target(s, call, "source", p, w);
    for (size_t i = 0; i < nelems; i++) {
        memcpy(local + i * dst * size, src + i * sst * size, size);
    }
}
