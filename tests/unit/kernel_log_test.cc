// The kernel log watch of fuzz campaigns in a guest (kernel_log.h): /dev/kmsg records parsed,
// only those logged after Open and at warning level or above taken, and the input kept with
// them. A plain file stands in for /dev/kmsg.
#include "addfdlab/kernel_log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

namespace addfdlab {
namespace {

namespace fs = std::filesystem;

fs::path Scratch(const std::string& name) {
  const fs::path dir =
      fs::temp_directory_path() / ("addfdlab-kernel-log-" + std::to_string(::getpid()) + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string Read(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(KernelLog, ParsesRecords) {
  const auto record = ParseKernelLogRecord("3,1234,5678,-;BUG: KASAN: slab-use-after-free in x\n");
  ASSERT_TRUE(record);
  EXPECT_EQ(record->level, 3);
  EXPECT_EQ(record->text, "BUG: KASAN: slab-use-after-free in x");
  // The facility is in PRI's higher bits: 12 is user (1) at warning (4).
  EXPECT_EQ(ParseKernelLogRecord("12,1,2,-;from user space")->level, 4);
  EXPECT_FALSE(ParseKernelLogRecord(" SUBSYSTEM=acpi"));
  EXPECT_FALSE(ParseKernelLogRecord("x,1,2,-;text"));
  EXPECT_FALSE(ParseKernelLogRecord("no separator"));
}

TEST(KernelLog, TakesWhatCameAfterOpenAtWarningOrAbove) {
  const fs::path dir = Scratch("watch");
  const fs::path log = dir / "kmsg";
  std::ofstream(log) << "3,1,1,-;BUG: before the watch began\n";
  std::optional<KernelLogWatch> watch = KernelLogWatch::Open(log.string());
  ASSERT_TRUE(watch);
  EXPECT_EQ(watch->Take(), "");
  std::ofstream(log, std::ios::app) << "6,2,2,-;an info line\n"
                                    << "4,3,3,-;WARNING: CPU: 0 PID: 7 at kernel/seccomp.c:1\n"
                                    << " SUBSYSTEM=cpu\n"
                                    << "5,4,4,-;a notice\n"
                                    << "3,5,5,-;BUG: KASAN: use-after-free\n";
  EXPECT_EQ(watch->Take(),
            "WARNING: CPU: 0 PID: 7 at kernel/seccomp.c:1\nBUG: KASAN: use-after-free\n");
  EXPECT_EQ(watch->Take(), "");
  EXPECT_FALSE(KernelLogWatch::Open((dir / "missing").string()));
  fs::remove_all(dir);
}

TEST(KernelLog, KeeperKeepsTheInputWithTheRecords) {
  const fs::path dir = Scratch("keeper");
  const fs::path log = dir / "kmsg";
  std::ofstream(log).close();
  std::optional<KernelLogWatch> watch = KernelLogWatch::Open(log.string());
  ASSERT_TRUE(watch);
  KernelReportKeeper keeper(std::move(*watch), dir.string(), 1);
  const uint8_t quiet[] = {1, 2, 3};
  EXPECT_FALSE(keeper.AfterInput(quiet, sizeof(quiet)));
  std::ofstream(log, std::ios::app) << "4,1,1,-;WARNING: possible circular locking dependency\n";
  const uint8_t loud[] = {4, 5};
  EXPECT_TRUE(keeper.AfterInput(loud, sizeof(loud)));
  const std::string base = (dir / (std::to_string(::getpid()) + "-0")).string();
  EXPECT_EQ(Read(base + ".bin"), std::string("\x04\x05", 2));
  EXPECT_EQ(Read(base + ".txt"), "WARNING: possible circular locking dependency\n");
  // Past the limit the input is not kept, and it still says the kernel logged.
  std::ofstream(log, std::ios::app) << "3,2,2,-;BUG: again\n";
  EXPECT_TRUE(keeper.AfterInput(quiet, sizeof(quiet)));
  EXPECT_FALSE(fs::exists(dir / (std::to_string(::getpid()) + "-1.txt")));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace addfdlab
