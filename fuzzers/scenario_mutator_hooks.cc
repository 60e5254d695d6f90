// libFuzzer's custom mutator and crossover for the fuzzers that read the binary scenario
// codec (addfd_sequence_fuzzer, model_fuzzer): structure-aware mutations of whole ops and of
// fields towards the kernel's boundaries (scenario_mutator.h); libFuzzer's byte mutations keep
// a share. $ADDFDLAB_NO_MUTATOR=1 leaves libFuzzer's own mutations alone.
#include <cstddef>
#include <cstdint>

#include "addfdlab/scenario_mutator.h"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size,
                                          unsigned int seed) {
  static const addfdlab::MutatorOptions options = addfdlab::MutatorOptions::FromEnvironment();
  return addfdlab::MutateInput(data, size, max_size, seed, options, LLVMFuzzerMutate);
}

extern "C" size_t LLVMFuzzerCustomCrossOver(const uint8_t* data1, size_t size1,
                                            const uint8_t* data2, size_t size2, uint8_t* out,
                                            size_t max_out_size, unsigned int seed) {
  static const addfdlab::MutatorOptions options = addfdlab::MutatorOptions::FromEnvironment();
  return addfdlab::CrossOverInputs(data1, size1, data2, size2, out, max_out_size, seed, options);
}
