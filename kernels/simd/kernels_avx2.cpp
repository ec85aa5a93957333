// The AVX2 + FMA + F16C kernels (CMake compiles *_avx2.cpp with those flags); the backend calls them only
// after checking the CPU. Bodies in kernels_x86.inl.
#define LLAMASCOPE_ISA_NAME "avx2"
#define LLAMASCOPE_ISA_KERNELS avx2_kernels
#include "kernels/simd/kernels_x86_unit.inl"
