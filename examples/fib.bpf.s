; The 20th Fibonacci number, with a bpf-to-bpf call, in the kernel/LLVM syntax.
;
;   pybpf run examples/fib.bpf.s            prints 0x1a6d
    r1 = 20
    call fib
    exit
fib:
    r0 = 0
    r2 = 1
    if r1 == 0 goto done
loop:
    r3 = r0
    r3 += r2
    r0 = r2
    r2 = r3
    r1 += -1
    if r1 != 0 goto loop
done:
    exit
