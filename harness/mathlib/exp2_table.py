"""Prints the 2^(j/8) table of hhc's f64 exp (compiler/src/passes/mathlib.rs, compiler/src/ir/exp2.rs).

For j in 0..8: T_j, the double nearest 2^(j/8), stored as its bits minus j<<49 (so that adding
k<<49 for k = 8q + j yields the bits of T_j·2^q), and the tail (2^(j/8) − T_j)/T_j as a double.
Uses 60-digit decimal arithmetic; float() of a decimal string is correctly rounded.
"""
import struct
from decimal import Decimal, getcontext

TABLE_BITS = 3
N = 1 << TABLE_BITS
SHIFT = 52 - TABLE_BITS
getcontext().prec = 60
LN2 = Decimal(2).ln()
adj, tail = [], []
for j in range(N):
    exact = (LN2 * j / N).exp()
    t = float(str(exact))
    bits = int.from_bytes(struct.pack("<d", t), "little")
    adj.append((bits - (j << SHIFT)) % (1 << 64))
    tl = float(str((exact - Decimal(t)) / Decimal(t)))
    tail.append(int.from_bytes(struct.pack("<d", tl), "little"))


def rust(name, xs):
    body = "".join(f"\n    0x{x:016x}," for x in xs)
    return f"pub static {name}: [u64; {N}] = [{body}\n];"


print(rust("EXP2_SCALE_BITS", adj))
print(rust("EXP2_TAIL_BITS", tail))
