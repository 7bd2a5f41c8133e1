/*
 * A uBPF-class reference interpreter for the benchmarks: a plain C switch over
 * the opcode byte, registers in an array, a 512-byte stack, memory accesses
 * bounds-checked against the stack and the input buffer.  It exists only to
 * give the benchmark tables a native interpreter column from the same run.
 *
 * Usage: ref_interp PROGRAM.bin REPEAT   prints "r0 ns_per_run insns_per_run"
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct insn { uint8_t op; uint8_t regs; int16_t off; int32_t imm; };

static uint8_t *stack_lo, *stack_hi;

static int in_bounds(uint64_t addr, unsigned size)
{
    return addr >= (uint64_t)(uintptr_t)stack_lo && addr + size <= (uint64_t)(uintptr_t)stack_hi;
}

static uint64_t run(const struct insn *code, size_t n, uint64_t *count)
{
    uint64_t r[11] = {0};
    uint8_t stack[512];
    memset(stack, 0, sizeof stack);
    stack_lo = stack;
    stack_hi = stack + sizeof stack;
    r[10] = (uint64_t)(uintptr_t)stack_hi;
    uint64_t executed = 0;
    size_t pc = 0;
    while (pc < n) {
        const struct insn *i = &code[pc++];
        unsigned d = i->regs & 0xf, s = i->regs >> 4;
        uint64_t k = (uint64_t)(int64_t)i->imm;
        executed++;
        switch (i->op) {
        case 0x07: r[d] += k; break;
        case 0x0f: r[d] += r[s]; break;
        case 0x17: r[d] -= k; break;
        case 0x1f: r[d] -= r[s]; break;
        case 0x27: r[d] *= k; break;
        case 0x2f: r[d] *= r[s]; break;
        case 0x47: r[d] |= k; break;
        case 0x4f: r[d] |= r[s]; break;
        case 0x57: r[d] &= k; break;
        case 0x5f: r[d] &= r[s]; break;
        case 0x67: r[d] <<= (k & 63); break;
        case 0x6f: r[d] <<= (r[s] & 63); break;
        case 0x77: r[d] >>= (k & 63); break;
        case 0x7f: r[d] >>= (r[s] & 63); break;
        case 0xa7: r[d] ^= k; break;
        case 0xaf: r[d] ^= r[s]; break;
        case 0xb7: r[d] = k; break;
        case 0xbf: r[d] = r[s]; break;
        case 0x04: r[d] = (uint32_t)(r[d] + k); break;
        case 0xb4: r[d] = (uint32_t)k; break;
        case 0xbc: r[d] = (uint32_t)r[s]; break;
        case 0x18: r[d] = (uint32_t)i->imm | ((uint64_t)(uint32_t)code[pc].imm << 32); pc++; break;
        case 0x71: { uint64_t a = r[s] + i->off; if (!in_bounds(a, 1)) goto fault;
                     r[d] = *(uint8_t *)(uintptr_t)a; break; }
        case 0x79: { uint64_t a = r[s] + i->off; if (!in_bounds(a, 8)) goto fault;
                     r[d] = *(uint64_t *)(uintptr_t)a; break; }
        case 0x73: { uint64_t a = r[d] + i->off; if (!in_bounds(a, 1)) goto fault;
                     *(uint8_t *)(uintptr_t)a = (uint8_t)r[s]; break; }
        case 0x7b: { uint64_t a = r[d] + i->off; if (!in_bounds(a, 8)) goto fault;
                     *(uint64_t *)(uintptr_t)a = r[s]; break; }
        case 0x05: pc += i->off; break;
        case 0x15: if (r[d] == k) pc += i->off; break;
        case 0x1d: if (r[d] == r[s]) pc += i->off; break;
        case 0x55: if (r[d] != k) pc += i->off; break;
        case 0x5d: if (r[d] != r[s]) pc += i->off; break;
        case 0x25: if (r[d] > k) pc += i->off; break;
        case 0x2d: if (r[d] > r[s]) pc += i->off; break;
        case 0xa5: if (r[d] < k) pc += i->off; break;
        case 0xad: if (r[d] < r[s]) pc += i->off; break;
        case 0x95: *count = executed; return r[0];
        default:
            fprintf(stderr, "ref_interp: opcode 0x%02x at %zu not supported\n", i->op, pc - 1);
            exit(2);
        }
    }
    fprintf(stderr, "ref_interp: ran off the end\n");
    exit(2);
fault:
    fprintf(stderr, "ref_interp: memory fault at %zu\n", pc - 1);
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc != 3) { fprintf(stderr, "usage: %s PROGRAM.bin REPEAT\n", argv[0]); return 2; }
    FILE *f = fopen(argv[1], "rb");
    if (!f) { perror(argv[1]); return 2; }
    static struct insn code[65536];
    size_t n = fread(code, sizeof code[0], 65536, f);
    fclose(f);
    long repeat = atol(argv[2]);
    uint64_t r0 = 0, count = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < repeat; i++)
        r0 = run(code, n, &count);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
    printf("%llu %.1f %llu\n", (unsigned long long)r0, ns / repeat, (unsigned long long)count);
    return 0;
}
