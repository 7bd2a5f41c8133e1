/* SPDX-License-Identifier: MIT */
/* Byte order conversion for BPF programs: network order (big endian) to and
 * from the CPU's.  Each macro folds to a constant when its argument is one
 * (usable in case labels and initializers) and otherwise compiles to a
 * single BPF byte-swap instruction.
 *
 *     if (eth->h_proto != bpf_htons(ETH_P_IP)) return XDP_PASS;
 *     __u16 port = bpf_ntohs(udp->dest);
 */
#ifndef __PYBPF_BPF_ENDIAN_H
#define __PYBPF_BPF_ENDIAN_H

/* constant byte swaps */
#define ___pybpf_swab16(x) ((__u16)((((__u16)(x) & (__u16)0x00ffU) << 8) | \
				    (((__u16)(x) & (__u16)0xff00U) >> 8)))
#define ___pybpf_swab32(x) ((__u32)((((__u32)(x) & (__u32)0x000000ffUL) << 24) | \
				    (((__u32)(x) & (__u32)0x0000ff00UL) << 8) | \
				    (((__u32)(x) & (__u32)0x00ff0000UL) >> 8) | \
				    (((__u32)(x) & (__u32)0xff000000UL) >> 24)))
#define ___pybpf_swab64(x) ((__u64)((((__u64)(x) & (__u64)0x00000000000000ffULL) << 56) | \
				    (((__u64)(x) & (__u64)0x000000000000ff00ULL) << 40) | \
				    (((__u64)(x) & (__u64)0x0000000000ff0000ULL) << 24) | \
				    (((__u64)(x) & (__u64)0x00000000ff000000ULL) << 8) | \
				    (((__u64)(x) & (__u64)0x000000ff00000000ULL) >> 8) | \
				    (((__u64)(x) & (__u64)0x0000ff0000000000ULL) >> 24) | \
				    (((__u64)(x) & (__u64)0x00ff000000000000ULL) >> 40) | \
				    (((__u64)(x) & (__u64)0xff00000000000000ULL) >> 56)))

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
# define ___pybpf_be16(x) __builtin_bswap16(x)
# define ___pybpf_be32(x) __builtin_bswap32(x)
# define ___pybpf_be64(x) __builtin_bswap64(x)
# define ___pybpf_const_be16(x) ___pybpf_swab16(x)
# define ___pybpf_const_be32(x) ___pybpf_swab32(x)
# define ___pybpf_const_be64(x) ___pybpf_swab64(x)
#elif __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
# define ___pybpf_be16(x) (x)
# define ___pybpf_be32(x) (x)
# define ___pybpf_be64(x) (x)
# define ___pybpf_const_be16(x) (x)
# define ___pybpf_const_be32(x) (x)
# define ___pybpf_const_be64(x) (x)
#else
# error "unknown byte order: __BYTE_ORDER__ is neither little nor big endian"
#endif

/* always-constant forms (the argument must be a constant) */
#define __bpf_constant_htons(x) ___pybpf_const_be16(x)
#define __bpf_constant_ntohs(x) ___pybpf_const_be16(x)
#define __bpf_constant_htonl(x) ___pybpf_const_be32(x)
#define __bpf_constant_ntohl(x) ___pybpf_const_be32(x)
#define __bpf_constant_cpu_to_be64(x) ___pybpf_const_be64(x)
#define __bpf_constant_be64_to_cpu(x) ___pybpf_const_be64(x)

/* never-folded forms: always the byte-swap instruction (or nothing on a
 * big-endian target) */
#define __bpf_htons(x) ___pybpf_be16(x)
#define __bpf_ntohs(x) ___pybpf_be16(x)
#define __bpf_htonl(x) ___pybpf_be32(x)
#define __bpf_ntohl(x) ___pybpf_be32(x)
#define __bpf_cpu_to_be64(x) ___pybpf_be64(x)
#define __bpf_be64_to_cpu(x) ___pybpf_be64(x)

/* host to network and back, 16, 32 and 64 bits: folded when X is a
 * constant, the instruction otherwise */
#define bpf_htons(x) (__builtin_constant_p(x) ? ___pybpf_const_be16(x) : ___pybpf_be16(x))
#define bpf_ntohs(x) (__builtin_constant_p(x) ? ___pybpf_const_be16(x) : ___pybpf_be16(x))
#define bpf_htonl(x) (__builtin_constant_p(x) ? ___pybpf_const_be32(x) : ___pybpf_be32(x))
#define bpf_ntohl(x) (__builtin_constant_p(x) ? ___pybpf_const_be32(x) : ___pybpf_be32(x))
#define bpf_cpu_to_be64(x) (__builtin_constant_p(x) ? ___pybpf_const_be64(x) : ___pybpf_be64(x))
#define bpf_be64_to_cpu(x) (__builtin_constant_p(x) ? ___pybpf_const_be64(x) : ___pybpf_be64(x))

#endif /* __PYBPF_BPF_ENDIAN_H */
