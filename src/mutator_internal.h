// Shared by the scenario mutator's files (scenario_mutator.cc, mutator_templates.cc,
// mutator_values.cc): drafts whose references are labels, the random source, what the model
// says at a position of a draft, and boundary values. Not part of the library's interface.
#ifndef ADDFDLAB_SRC_MUTATOR_INTERNAL_H_
#define ADDFDLAB_SRC_MUTATOR_INTERNAL_H_

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "addfdlab/model.h"
#include "addfdlab/scenario.h"
#include "addfdlab/scenario_mutator.h"

namespace addfdlab::mutator_internal {

// splitmix64: tiny, and the same sequence for a seed on every platform.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // 0..n-1; 0 when n is 0.
  size_t Below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(Next() % n); }
  // lo..hi, both included.
  int Int(int lo, int hi) { return lo + static_cast<int>(Below(static_cast<size_t>(hi - lo) + 1)); }
  bool OneIn(size_t n) { return Below(n) == 0; }
  template <typename T>
  T Pick(std::initializer_list<T> values) {
    return values.begin()[Below(values.size())];
  }
  template <typename T>
  const T& Pick(const std::vector<T>& values) {
    return values[Below(values.size())];
  }
  // An index drawn with the given weights (not all zero).
  size_t Weighted(std::initializer_list<int> weights);
  // A value drawn with its weight.
  template <typename T>
  T PickWeighted(std::initializer_list<std::pair<T, int>> choices) {
    int total = 0;
    for (const auto& choice : choices) total += choice.second;
    int r = static_cast<int>(Below(static_cast<size_t>(total)));
    for (const auto& choice : choices) {
      if (r < choice.second) return choice.first;
      r -= choice.second;
    }
    return choices.begin()->first;
  }

 private:
  uint64_t state_;
};

// A scenario being edited. Its ops name notifications (Op::notif), fd names (bind, bind2,
// fd.name, fd2.name) and threads (Op::thread) by labels: numbers that stay with what they
// name when ops move, so that Lower() can number them canonically again. A label bound
// twice (a duplicated trap) names the later binding from there on.
struct Draft {
  std::vector<TargetDecl> targets;
  std::vector<Op> ops;
  std::vector<int> tags;              // per op: the template instance that inserted it, or 0
  std::map<int, ThreadPlace> places;  // by thread label: where it runs (kThread when absent)
  int next_label = 0;
  int NewLabel() { return next_label++; }
  void Insert(size_t position, const std::vector<Op>& ops, int tag);
  // Removes ops [begin, end).
  void Erase(size_t begin, size_t end);
};

// A valid scenario as a draft whose labels are its indices plus `offset`; no expect clauses.
Draft Lift(const Scenario& scenario, int offset = 0);

// A draft numbered canonically. Ops that cannot be kept are dropped as the decoder drops
// them (a notification use before any trap, a 17th trap, a 33rd fd name, a trap or reserve
// on a target without callers, a wait on a thread never started); a reference whose label
// is not bound where it is used goes to the latest notification, to a literal fd, or (an op
// starting on a thread) to a new thread.
struct Lowered {
  Scenario scenario;           // canonical: ValidateScenario() accepts it
  std::vector<size_t> origin;  // per op of `scenario`, its index in the draft
  std::map<int, int> notifs;   // label -> notification index, at the end
  std::map<int, int> fds;      // label -> fd name index
  std::map<int, int> threads;  // label -> thread index
};
Lowered Lower(const Draft& draft);

// What holds before op `position` of a draft, from the model run over the ops before it
// (each answered with the first outcome the model allows).
struct TargetFacts {
  bool alive = true;
  bool listener = true;
  int callers = 0;
  std::vector<int> free_tasks;  // callers neither blocked nor dead
  std::vector<int> open_fds;    // below the harness fds
  std::vector<int> reserved;    // slots a FIFO open() holds
  int lowest_free = 0;
  int64_t nofile = 1024;  // RLIMIT_NOFILE (soft)
  bool quiet = true;      // no task blocked anywhere (a handler can be installed)
};
struct Facts {
  std::vector<TargetFacts> targets;
  std::vector<int> notifs;        // notification labels bound so far
  std::vector<int> live_notifs;   // labels whose trapped syscall still waits
  std::vector<int> fds;           // fd labels bound so far
  std::vector<int> threads;       // thread labels started so far
  std::vector<int> idle_threads;  // of those, the ones not in an op
};
Facts FactsAt(const Draft& draft, size_t position);
// A target to put ops on: mostly one alive with its listener open.
int PickTarget(Rng& rng, const Facts& facts);

// The model's predictions for each op of a valid scenario (skipped ops included), run as
// the executor runs it with the first outcome allowed standing for the kernel's.
std::vector<Prediction> Predictions(const Scenario& scenario);

// Boundary values (mutator_values.cc).
int64_t PickIdDelta(Rng& rng);
uint32_t PickAddFdFlags(Rng& rng);
uint32_t PickNewfdFlags(Rng& rng);
// A kernel fault for an ADDFD (mostly none): only the main thread (`thread` < 0) injects.
InjectKind PickInject(Rng& rng, int thread);
uint32_t PickAddFdSize(Rng& rng);
AddFdArg PickArg(Rng& rng);
SourceKind PickSource(Rng& rng, bool valid_only);
uint32_t PickSendFlags(Rng& rng);
int32_t PickSendError(Rng& rng);
int PickSignal(Rng& rng);
HandlerKind PickHandler(Rng& rng);
int64_t PickNofile(Rng& rng, const TargetFacts& target);
uint32_t PickFilterFlags(Rng& rng);
int64_t PickSetFlags(Rng& rng);
int64_t PickIoctl(Rng& rng);
uint32_t PickPollEvents(Rng& rng);
BufferKind PickBuffer(Rng& rng);
// An fd number by slot class: 0-2, free, open (as a literal or an fd label), reserved,
// harness, RLIMIT_NOFILE - 1 and RLIMIT_NOFILE, at or above fs.nr_open, huge, negative.
FdRef PickFd(Rng& rng, const Facts& facts, int target);
// A fresh op of `kind` on `target` before op `position`, its fields near the boundaries and
// its references to what `facts` says is bound; binds fresh labels.
Op RandomOp(Rng& rng, Draft& draft, const Facts& facts, OpKind kind, int target);
// Sets one field of `op` towards a boundary.
void MutateField(Rng& rng, Op& op, const Facts& facts);

// Templates (mutator_templates.cc): the ops of `shape` on `target`, with fresh labels from
// `draft` and references to what `facts` says exists there. May change the target's
// declaration (filter flags, callers) when the shape needs it.
std::vector<Op> BuildTemplate(Rng& rng, MutationTemplate shape, Draft& draft, const Facts& facts,
                              int target);

}  // namespace addfdlab::mutator_internal

#endif  // ADDFDLAB_SRC_MUTATOR_INTERNAL_H_
