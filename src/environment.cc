// The one place addfdlab reads its environment variables.
#include "addfdlab/environment.h"

#include <cstdlib>
#include <cstring>

namespace addfdlab {
namespace {

const char* Value(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

bool Flag(const char* name) {
  const char* value = Value(name);
  return *value != '\0' && std::strcmp(value, "0") != 0;
}

// A decimal number >= 0 and the whole value, else -1.
int Count(const char* text) {
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || value < 0 || value > 1 << 20) return -1;
  return static_cast<int>(value);
}

}  // namespace

Environment ReadEnvironment() {
  Environment env;
  const double scale = std::atof(Value("ADDFDLAB_TIME_SCALE"));
  if (scale > 0) env.time_scale = scale;
  env.cpu = Count(Value("ADDFDLAB_CPU"));
  const std::string sched = Value("ADDFDLAB_SCHED");
  if (sched == "idle") env.sched = SchedMode::kIdle;
  if (sched == "free") env.sched = SchedMode::kFree;
  env.no_spawner = Flag("ADDFDLAB_NO_SPAWNER");
  env.no_mutator = Flag("ADDFDLAB_NO_MUTATOR");
  env.no_kernel_feedback = Flag("ADDFDLAB_NO_KERNEL_FEEDBACK");
  env.rollback_mutant = Flag("ADDFDLAB_ROLLBACK_MUTANT");
  env.vm_guest = Flag("ADDFDLAB_VM_GUEST");
  env.fake_release = Value("ADDFDLAB_FAKE_RELEASE");
  env.known_deviations = Value("ADDFDLAB_KNOWN_DEVIATIONS");
  env.cells_file = Value("ADDFDLAB_CELLS_FILE");
  env.dropped_file = Value("ADDFDLAB_DROPPED_FILE");
  env.kernel_pcs_file = Value("ADDFDLAB_KERNEL_PCS_FILE");
  env.mutate_cell = Value("ADDFDLAB_MUTATE_CELL");
  env.profile_file = Value("ADDFDLAB_PROFILE_FILE");
  env.stress_plant = Value("ADDFDLAB_STRESS_PLANT");
  return env;
}

int TakeSpawnerFd() {
  const char* value = std::getenv(kSpawnerFdVariable);
  if (value == nullptr) return -1;
  const int fd = Count(value);
  ::unsetenv(kSpawnerFdVariable);
  return fd;
}

}  // namespace addfdlab
