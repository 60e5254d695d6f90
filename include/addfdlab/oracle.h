// Verdicts and the three oracles: the kernel's answer against the model's allowed set,
// the target's fd table against the model's, and the supervisor's own hygiene.
#ifndef ADDFDLAB_ORACLE_H_
#define ADDFDLAB_ORACLE_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "addfdlab/model.h"
#include "addfdlab/scenario.h"

namespace addfdlab {

struct Verdict {
  enum class Kind : uint8_t {
    kContract,   // the kernel's outcome is not one the model allows
    kExpect,     // a hand-written expect clause did not hold
    kLeaked,     // an fd in the target that the model does not account for
    kDangling,   // an fd the model says the target holds, closed
    kWrongFile,  // an fd holding another file than the model says
    kCloexec,    // an fd whose FD_CLOEXEC differs from the model's
    kHygiene,    // the supervisor leaked an fd, a thread or a child
    kHang,       // an op missed its deadline
    kHarness,    // the harness could not do what the op asks (a bug in addfdlab)
  };
  Kind kind = Kind::kContract;
  int op = -1;       // the op index, -1 for the end of the run
  std::string cell;  // the contract cell, when one decides it
  int fd = -1;       // the fd, for table verdicts
  std::string expected;
  std::string observed;
  std::string detail;

  // What deduplicates findings: kind, cell (or fd class) and the op's kind.
  std::string Signature(const Scenario& scenario) const;
  // One line for people.
  std::string Describe(const Scenario& scenario) const;
};

const char* VerdictKindName(Verdict::Kind kind);

// What the fd-table oracle sees in the target: the file each fd holds (by kcmp against
// files the supervisor knows), or nullopt for a file it does not know.
struct ObservedFd {
  std::optional<ModelFile> file;
  bool cloexec = false;
  std::string description;
};

// Compares the model's table with the observed one; one verdict per differing fd, carrying
// the cell `cells` names for its number (Model::FdCells: the cell that decided what the
// model put there), so that a known deviation matches its table verdicts by behaviour.
std::vector<Verdict> CompareFdTables(const std::map<int, ModelFd>& expected,
                                     const std::map<int, ObservedFd>& observed, int op,
                                     const std::map<int, std::string>& cells = {});

// PATTERN.CLOEXEC: for each fd that an injection standing in for a syscall installed
// (`emulated`, Model::FdEmulates), a verdict (kCloexec) when its observed FD_CLOEXEC is not
// what that syscall would have given (EmulatedCloexec). An fd missing from `observed` is left
// to CompareFdTables.
std::vector<Verdict> CheckEmulatedCloexec(const std::map<int, EmulatedCall>& emulated,
                                          const std::map<int, ObservedFd>& observed, int op);

// The contract oracle for one op: a verdict when `observed` is not in `allowed`.
std::optional<Verdict> CheckOutcome(const Prediction& prediction, const Outcome& observed, int op);
// The expect clause of an op, when it has one and it does not hold.
std::optional<Verdict> CheckExpect(const Op& op, const Outcome& observed, int index,
                                   const std::string& cell);

std::string DescribeModelFile(const std::optional<ModelFile>& file);
// "EBADF or ok 3".
std::string DescribeAllowed(const std::vector<Outcome>& allowed);

}  // namespace addfdlab

#endif  // ADDFDLAB_ORACLE_H_
