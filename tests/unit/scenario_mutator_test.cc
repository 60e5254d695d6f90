// The structure-aware mutator: every output valid and canonical, over many seeds, from the
// empty scenario and from the seed corpus; deterministic; its templates reach every cell a
// scenario can reach, on the model alone.
#include "addfdlab/scenario_mutator.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "addfdlab/cells.h"
#include "addfdlab/model.h"
#include "addfdlab/scenario_codec.h"
#include "addfdlab/scenario_text.h"

namespace addfdlab {
namespace {

namespace fs = std::filesystem;

Scenario OneTarget() {
  Scenario s;
  s.targets.emplace_back();
  s.targets.back().name = "t0";
  return s;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// The seeds: the fuzzer's binary corpus and the contract and regression scenarios as text.
std::vector<Scenario> Seeds() {
  std::vector<Scenario> seeds;
  const fs::path corpus = fs::path(ADDFDLAB_SOURCE_DIR) / "corpus";
  for (const auto& entry : fs::directory_iterator(corpus / "addfd_sequence_fuzzer")) {
    const std::string bytes = ReadFile(entry.path());
    auto s = DecodeScenario(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    EXPECT_TRUE(s.has_value()) << entry.path();
    if (s) seeds.push_back(std::move(*s));
  }
  for (const char* dir : {"contract", "regressions"}) {
    for (const auto& entry : fs::directory_iterator(corpus / dir)) {
      if (entry.path().extension() != ".scn") continue;
      ParseError error;
      auto s = ParseScenario(ReadFile(entry.path()), entry.path().string(), &error);
      EXPECT_TRUE(s.has_value()) << error.ToString();
      if (s) seeds.push_back(std::move(*s));
    }
  }
  return seeds;
}

// CheckRoundTrip's error in words, "" when the scenario round-trips.
std::string RoundTripProblem(const Scenario& s) {
  const Result<void> round_trip = CheckRoundTrip(s);
  return round_trip ? "" : round_trip.error().ToString();
}

// What the mutator promises of every output.
void ExpectCanonical(const Scenario& s, const std::string& context) {
  ASSERT_EQ(RoundTripProblem(s), "") << context;
  EXPECT_TRUE(s.cells.empty()) << context;
  for (const Op& op : s.ops) ASSERT_FALSE(op.expect.present) << context << PrintScenario(s);
  const std::vector<uint8_t> bytes = EncodeScenario(s);
  const auto decoded = DecodeScenario(bytes.data(), bytes.size());
  ASSERT_TRUE(decoded.has_value()) << context;
  EXPECT_EQ(*decoded, s) << context << PrintScenario(s);
}

// The contract cells the model names when it runs `s` as the executor would, each answer
// the first it allows (what the fuzz harness counts, without a kernel).
void AddModelCells(const Scenario& s, std::set<std::string>* cells) {
  Model model(s, ModelEnv{});
  for (size_t i = 0; i < s.ops.size(); ++i) {
    const int index = static_cast<int>(i);
    const Prediction p = model.Begin(index);
    if (p.skip) continue;
    if (IsContractCell(p.cell)) cells->insert(p.cell);
    model.Step(index, p.allowed.empty() ? Outcome::Ok(0) : p.allowed.front());
    for (const std::string& cell : model.TakeReached()) cells->insert(cell);
  }
  model.Quiesce();
  for (const std::string& cell : model.TakeReached()) cells->insert(cell);
}

// Cells a deterministic scenario can reach: what the fuzzer should find.
std::set<std::string> ScenarioCells() {
  std::set<std::string> cells;
  for (const CellInfo& cell : kContractCells) {
    if (cell.reach == Reach::kScenario) cells.emplace(cell.id);
  }
  return cells;
}

std::string Missing(const std::set<std::string>& want, const std::set<std::string>& got) {
  std::string missing;
  for (const std::string& cell : want) {
    if (!got.count(cell)) missing += cell + " ";
  }
  return missing;
}

TEST(ScenarioMutator, EveryMutationOfTheEmptyScenarioIsCanonical) {
  for (uint64_t seed = 0; seed < 300; ++seed) {
    ExpectCanonical(MutateScenario(OneTarget(), seed), "seed " + std::to_string(seed));
  }
}

TEST(ScenarioMutator, EveryMutationOfTheSeedsIsCanonical) {
  const std::vector<Scenario> seeds = Seeds();
  ASSERT_GE(seeds.size(), 100u);
  for (size_t i = 0; i < seeds.size(); ++i) {
    for (uint64_t seed = 0; seed < 25; ++seed) {
      const std::string context = "seed scenario " + std::to_string(i) + ", seed " +
                                  std::to_string(seed) + "\n" + PrintScenario(seeds[i]);
      ExpectCanonical(MutateScenario(seeds[i], seed), context);
      ExpectCanonical(CrossOverScenarios(seeds[i], seeds[(i * 7 + seed) % seeds.size()], seed),
                      "crossover of " + context);
    }
  }
}

TEST(ScenarioMutator, LongChainsStayCanonicalAndUseEveryMutation) {
  std::map<Mutation, int> used;
  for (uint64_t chain = 0; chain < 3; ++chain) {
    Scenario s = OneTarget();
    std::vector<Scenario> pool;
    for (uint64_t step = 0; step < 300; ++step) {
      const uint64_t seed = chain * 100000 + step;
      Mutation mutation;
      Scenario next = MutateScenario(s, seed, &mutation);
      ++used[mutation];
      if (step % 7 == 0 && !pool.empty())
        next = CrossOverScenarios(next, pool[seed % pool.size()], seed);
      ExpectCanonical(next, "chain " + std::to_string(chain) + " step " + std::to_string(step) +
                                " from\n" + PrintScenario(s));
      if (HasFatalFailure()) return;
      if (step % 25 == 0) pool.push_back(next);
      s = std::move(next);
      EXPECT_LE(s.ops.size(), static_cast<size_t>(kMaxOps));
    }
  }
  EXPECT_EQ(used.size(), static_cast<size_t>(kMutationCount));
}

// In a guest on the debug kernel the campaign injects kernel faults: the mutator arms each
// kind on ADDFDs, always on the main thread (the only one that may inject).
TEST(ScenarioMutator, ArmsEveryKernelFaultOnTheMainThread) {
  std::set<InjectKind> kinds;
  for (uint64_t chain = 0; chain < 20; ++chain) {
    Scenario s = OneTarget();
    for (uint64_t step = 0; step < 300; ++step) {
      s = MutateScenario(s, chain * 100000 + step);
      for (const Op& op : s.ops) {
        if (op.kind != OpKind::kAddFd || op.inject == InjectKind::kNone) continue;
        EXPECT_LT(op.thread, 0) << PrintScenario(s);
        kinds.insert(op.inject);
      }
    }
  }
  EXPECT_EQ(kinds.size(), static_cast<size_t>(kInjectKindCount - 1));
}

TEST(ScenarioMutator, IsDeterministicForASeed) {
  const std::vector<Scenario> seeds = Seeds();
  for (size_t i = 0; i < seeds.size(); i += 5) {
    EXPECT_EQ(MutateScenario(seeds[i], 42), MutateScenario(seeds[i], 42));
    EXPECT_EQ(CrossOverScenarios(seeds[i], seeds[0], 7), CrossOverScenarios(seeds[i], seeds[0], 7));
  }
  // And different seeds do different things.
  std::set<std::string> outputs;
  for (uint64_t seed = 0; seed < 50; ++seed) {
    outputs.insert(PrintScenario(MutateScenario(seeds[0], seed)));
  }
  EXPECT_GT(outputs.size(), 25u);
}

TEST(ScenarioMutator, TemplatesAreCanonicalAnywhere) {
  const std::vector<Scenario> seeds = Seeds();
  for (int shape = 0; shape < kMutationTemplateCount; ++shape) {
    for (uint64_t seed = 0; seed < 40; ++seed) {
      const auto kind = static_cast<MutationTemplate>(shape);
      const Scenario& base = seeds[(seed * 13 + static_cast<uint64_t>(shape)) % seeds.size()];
      const std::string context =
          "template " + std::to_string(shape) + " seed " + std::to_string(seed);
      const Scenario alone = InsertTemplate(OneTarget(), kind, seed);
      ExpectCanonical(alone, context);
      EXPECT_FALSE(alone.ops.empty()) << context;
      ExpectCanonical(InsertTemplate(base, kind, seed), context + " into\n" + PrintScenario(base));
    }
  }
}

// The kernel-free version of the target: the templates alone reach, on the model,
// every contract cell a deterministic scenario can reach.
TEST(ScenarioMutator, TemplatesReachEveryScenarioCellOnTheModel) {
  std::set<std::string> reached;
  for (int shape = 0; shape < kMutationTemplateCount; ++shape) {
    for (uint64_t seed = 0; seed < 150; ++seed) {
      AddModelCells(InsertTemplate(OneTarget(), static_cast<MutationTemplate>(shape), seed),
                    &reached);
    }
  }
  const std::set<std::string> want = ScenarioCells();
  EXPECT_EQ(Missing(want, reached), "");
}

// And so does a random walk of mutations from the empty scenario (each step kept, as a
// fuzzer that keeps everything would), crossovers included.
TEST(ScenarioMutator, MutationWalksFromNothingReachEveryScenarioCellOnTheModel) {
  std::set<std::string> reached;
  std::vector<Scenario> pool = {OneTarget()};
  for (uint64_t step = 0; step < 4000; ++step) {
    const Scenario& from = pool[(step * 2654435761u) % pool.size()];
    Scenario next = step % 5 == 4 ? CrossOverScenarios(from, pool[step % pool.size()], step)
                                  : MutateScenario(from, step);
    AddModelCells(next, &reached);
    if (pool.size() < 64) {
      pool.push_back(std::move(next));
    } else {
      pool[step % pool.size()] = std::move(next);
    }
  }
  EXPECT_EQ(Missing(ScenarioCells(), reached), "");
}

TEST(ScenarioMutator, EncodeWithinDropsOpsFromTheEnd) {
  const Scenario s = InsertTemplate(OneTarget(), MutationTemplate::kQueued, 3);
  const std::vector<uint8_t> full = EncodeScenario(s);
  ASSERT_GT(full.size(), 12u);
  EXPECT_EQ(EncodeWithin(s, full.size()), full);
  const std::vector<uint8_t> cut = EncodeWithin(s, full.size() - 1);
  ASSERT_FALSE(cut.empty());
  EXPECT_LT(cut.size(), full.size());
  const auto decoded = DecodeScenario(cut.data(), cut.size());
  ASSERT_TRUE(decoded.has_value());
  EXPECT_LT(decoded->ops.size(), s.ops.size());
  EXPECT_TRUE(std::equal(decoded->ops.begin(), decoded->ops.end(), s.ops.begin()));
  EXPECT_TRUE(EncodeWithin(s, 2).empty());  // not even the header fits
}

// A stand-in for LLVMFuzzerMutate: counts its calls, changes nothing.
int g_byte_mutations = 0;
size_t CountingBytes(uint8_t*, size_t size, size_t) {
  ++g_byte_mutations;
  return size;
}

TEST(ScenarioMutator, MutateInputGivesTheBytesTheirShare) {
  const std::vector<uint8_t> seed =
      EncodeScenario(InsertTemplate(OneTarget(), MutationTemplate::kCalls, 1));
  MutatorOptions options;
  g_byte_mutations = 0;
  int decoded = 0;
  for (unsigned int i = 0; i < 400; ++i) {
    std::vector<uint8_t> data = seed;
    data.resize(1024);
    const size_t size =
        MutateInput(data.data(), seed.size(), data.size(), i, options, CountingBytes);
    ASSERT_LE(size, data.size());
    if (DecodeScenario(data.data(), size)) ++decoded;
  }
  EXPECT_EQ(decoded, 400);
  EXPECT_GT(g_byte_mutations, 60);  // about one in four
  EXPECT_LT(g_byte_mutations, 140);

  // What does not decode goes to the byte mutator; so does everything with the structure off.
  g_byte_mutations = 0;
  uint8_t junk[64] = {7, 1, 2, 3};
  for (unsigned int i = 0; i < 20; ++i)
    MutateInput(junk, 4, sizeof(junk), i, options, CountingBytes);
  EXPECT_EQ(g_byte_mutations, 20);
  options.structure = false;
  g_byte_mutations = 0;
  for (unsigned int i = 0; i < 20; ++i) {
    std::vector<uint8_t> data = seed;
    MutateInput(data.data(), data.size(), data.size(), i, options, CountingBytes);
  }
  EXPECT_EQ(g_byte_mutations, 20);
}

TEST(ScenarioMutator, MutateInputRespectsMaxSize) {
  std::vector<uint8_t> data = EncodeScenario(OneTarget());
  const size_t max_size = 48;
  data.resize(max_size);
  size_t size = EncodeScenario(OneTarget()).size();
  MutatorOptions options;
  options.bytes_one_in = 1000000;
  for (unsigned int i = 0; i < 300; ++i) {
    size = MutateInput(data.data(), size, max_size, i, options, CountingBytes);
    ASSERT_LE(size, max_size);
    const auto s = DecodeScenario(data.data(), size);
    ASSERT_TRUE(s.has_value());
    ASSERT_EQ(RoundTripProblem(*s), "");
  }
}

TEST(ScenarioMutator, CrossOverInputs) {
  const std::vector<uint8_t> a =
      EncodeScenario(InsertTemplate(OneTarget(), MutationTemplate::kInterrupt, 1));
  const std::vector<uint8_t> b =
      EncodeScenario(InsertTemplate(OneTarget(), MutationTemplate::kReserved, 2));
  MutatorOptions options;
  uint8_t out[1024];
  int made = 0;
  for (unsigned int i = 0; i < 100; ++i) {
    const size_t size =
        CrossOverInputs(a.data(), a.size(), b.data(), b.size(), out, sizeof(out), i, options);
    if (size == 0) continue;
    ++made;
    const auto s = DecodeScenario(out, size);
    ASSERT_TRUE(s.has_value());
    ASSERT_EQ(RoundTripProblem(*s), "");
  }
  EXPECT_GT(made, 25);  // about half declined
  EXPECT_LT(made, 75);
  const uint8_t junk[] = {9, 9, 9};
  for (unsigned int i = 0; i < 20; ++i) {
    EXPECT_EQ(CrossOverInputs(junk, sizeof(junk), b.data(), b.size(), out, sizeof(out), i, options),
              0u);
  }
  options.structure = false;
  for (unsigned int i = 0; i < 20; ++i) {
    EXPECT_EQ(CrossOverInputs(a.data(), a.size(), b.data(), b.size(), out, sizeof(out), i, options),
              0u);
  }
}

}  // namespace
}  // namespace addfdlab
