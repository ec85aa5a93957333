// The AVX-512 (F/BW/VL/DQ) kernels: the AVX2 bodies of kernels_x86.inl compiled for AVX-512, with 512-bit
// float dot products. Chosen only where the CPU has AVX-512; not exercised on CPUs without it.
#define LLAMASCOPE_ISA_NAME "avx512"
#define LLAMASCOPE_ISA_KERNELS avx512_kernels
#include "kernels/simd/kernels_x86_unit.inl"
