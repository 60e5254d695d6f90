// vm/: the console scanner, QEMU's exit code, --kernel's package names, shell quoting and
// the cpio writer, without QEMU.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "console.h"
#include "initramfs.h"
#include "kernel_cache.h"

namespace addfdlab::vm {
namespace {

TEST(VmConsole, CleanBootHasNoTrouble) {
  const std::string console =
      "[    0.000000] Linux version 6.1.0-57-cloud-amd64\n"
      "[    5.587420] Freeing unused kernel image (initmem) memory: 2612K\n"
      "[    6.481506] Unstable clock detected, switching default tracing clock to \"global\"\n"
      "addfdlab-vm: running\naddfdlab-vm: exit 0\n";
  EXPECT_TRUE(FindKernelTrouble(console).empty());
}

TEST(VmConsole, FindsEachReportOnceWithItsExcerpt) {
  const std::string console =
      "[    1.0] booting\n"
      "[   12.5] ==================================================================\n"
      "[   12.5] BUG: KASAN: slab-use-after-free in seccomp_notify_addfd+0x1/0x2\n"
      "[   12.5] Read of size 8 at addr ffff8880\n"
      "[   12.6] ---[ end trace 0000000000000000 ]---\n"
      "[   13.0] WARNING: CPU: 0 PID: 42 at kernel/seccomp.c:1100 seccomp_do_user_notification\n"
      "[   13.0] Call Trace:\n"
      "[   13.1] ---[ end trace 0000000000000001 ]---\n"
      "[   20.0] WARNING: possible circular locking dependency detected\n"
      "[  150.0] INFO: task addfdlab:77 blocked for more than 120 seconds.\n";
  const std::vector<KernelTrouble> found = FindKernelTrouble(console);
  ASSERT_EQ(found.size(), 4u);
  EXPECT_EQ(found[0].kind, "KASAN");
  EXPECT_EQ(found[0].line, 3u);
  EXPECT_EQ(found[0].title, "BUG: KASAN: slab-use-after-free in seccomp_notify_addfd+0x1/0x2");
  EXPECT_NE(found[0].excerpt.find("end trace 0000000000000000"), std::string::npos);
  EXPECT_EQ(found[0].excerpt.find("WARNING"), std::string::npos);
  EXPECT_EQ(found[1].kind, "WARNING");
  EXPECT_EQ(found[2].kind, "lockdep");
  EXPECT_EQ(found[3].kind, "hung task");
}

TEST(VmConsole, DecodesQemuExit) {
  EXPECT_EQ(DecodeQemuExit(1).kind, QemuExit::Kind::kStatus);
  EXPECT_EQ(DecodeQemuExit(1).status, 0);
  EXPECT_EQ(DecodeQemuExit(7).status, 3);
  EXPECT_EQ(DecodeQemuExit(0).kind, QemuExit::Kind::kPoweredOff);
  EXPECT_EQ(DecodeQemuExit(-1).kind, QemuExit::Kind::kFailed);
  EXPECT_EQ(DecodeQemuExit(2).kind, QemuExit::Kind::kFailed);
}

TEST(VmKernelCache, PackageCandidates) {
  EXPECT_EQ(KernelPackageCandidates("6.1.0-57", "cloud-amd64").front(),
            "linux-image-6.1.0-57-cloud-amd64-unsigned");
  const std::vector<std::string> v612 = KernelPackageCandidates("6.12.118", "cloud-amd64");
  EXPECT_NE(std::find(v612.begin(), v612.end(), "linux-image-6.12.118+deb12-cloud-amd64-unsigned"),
            v612.end());
  EXPECT_EQ(KernelPackageCandidates("6.1.0-57-rt-amd64", "cloud-amd64").front(),
            "linux-image-6.1.0-57-rt-amd64-unsigned");
  EXPECT_EQ(KernelPackageCandidates("linux-image-6.1.0-50-amd64-unsigned", "cloud-amd64"),
            std::vector<std::string>{"linux-image-6.1.0-50-amd64-unsigned"});
}

TEST(VmKernelCache, ListsAndCleansEntries) {
  const std::filesystem::path root =
      std::filesystem::temp_directory_path() / ("vm-cache-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(root / "linux-image-x_1");
  std::ofstream(root / "linux-image-x_1" / "package") << "linux-image-x\n1\n";
  std::ofstream(root / "linux-image-x_1" / "vmlinuz") << "kernel";
  std::filesystem::create_directories(root / "tmp-1");  // an interrupted fetch
  KernelCache cache(root, 1 << 20);
  ASSERT_EQ(cache.List().size(), 1u);
  EXPECT_EQ(cache.List()[0].version, "1");
  EXPECT_EQ(cache.List()[0].bytes, 6u + 16u);
  EXPECT_TRUE(cache.Find("linux-image-x").has_value());
  EXPECT_FALSE(cache.Find("linux-image-y").has_value());
  const Result<size_t> removed = cache.Clean();
  ASSERT_TRUE(removed);
  EXPECT_EQ(*removed, 2u);
  EXPECT_TRUE(cache.List().empty());
  std::filesystem::remove_all(root);
}

TEST(VmKernelCache, ShellQuote) {
  EXPECT_EQ(ShellQuote("a b"), "'a b'");
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");
  EXPECT_EQ(ShellQuote(""), "''");
}

// The names of a newc archive, in order, with each file's size.
std::vector<std::pair<std::string, size_t>> CpioNames(const std::string& data) {
  std::vector<std::pair<std::string, size_t>> names;
  size_t at = 0;
  while (at + 110 <= data.size() && data.compare(at, 6, "070701") == 0) {
    const size_t size = std::stoul(data.substr(at + 54, 8), nullptr, 16);
    const size_t name_size = std::stoul(data.substr(at + 94, 8), nullptr, 16);
    const std::string name = data.substr(at + 110, name_size - 1);
    names.emplace_back(name, size);
    at = (at + 110 + name_size + 3) / 4 * 4;
    at = (at + size + 3) / 4 * 4;
    if (name == "TRAILER!!!") break;
  }
  return names;
}

TEST(VmInitramfs, WritesParentsFirstAndATrailer) {
  const std::filesystem::path out =
      std::filesystem::temp_directory_path() / ("vm-initramfs-" + std::to_string(::getpid()));
  InitramfsSpec spec;
  spec.AddText("/vm/run.sh", "echo hi\n", 0755);
  spec.AddText("/init", "#!/bin/sh\n", 0755);
  spec.AddFolder("/proc");
  const Result<uint64_t> size = spec.Write(out);
  ASSERT_TRUE(size);
  std::ifstream in(out, std::ios::binary);
  const std::string data{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  EXPECT_EQ(data.size(), *size);
  EXPECT_EQ(data.size() % 4, 0u);
  const std::vector<std::pair<std::string, size_t>> expected{
      {"init", 10}, {"proc", 0}, {"vm", 0}, {"vm/run.sh", 8}, {"TRAILER!!!", 0}};
  EXPECT_EQ(CpioNames(data), expected);
  std::filesystem::remove(out);
}

// A host folder at another guest path (fuzz --vm: the work corpus at the guest's work
// folder): its files and subfolders under the guest path, nothing at the host's.
TEST(VmInitramfs, HostTreeAtAnotherPath) {
  namespace fs = std::filesystem;
  const fs::path host = fs::temp_directory_path() / ("vm-tree-" + std::to_string(::getpid()));
  fs::create_directories(host / "sub");
  std::ofstream(host / "a") << "12345";
  std::ofstream(host / "sub" / "b") << "1";
  const fs::path out = host.string() + ".cpio";
  InitramfsSpec spec;
  ASSERT_TRUE(spec.AddHostTreeAt("/vm/fuzz/corpus", host, 1024));
  const Result<uint64_t> size = spec.Write(out);
  ASSERT_TRUE(size);
  std::ifstream in(out, std::ios::binary);
  const std::string data{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  const std::vector<std::pair<std::string, size_t>> expected{{"vm", 0},
                                                             {"vm/fuzz", 0},
                                                             {"vm/fuzz/corpus", 0},
                                                             {"vm/fuzz/corpus/a", 5},
                                                             {"vm/fuzz/corpus/sub", 0},
                                                             {"vm/fuzz/corpus/sub/b", 1},
                                                             {"TRAILER!!!", 0}};
  EXPECT_EQ(CpioNames(data), expected);
  // Over the byte limit: false.
  InitramfsSpec small;
  EXPECT_FALSE(small.AddHostTreeAt("/x", host, 3));
  fs::remove_all(host);
  fs::remove(out);
}

TEST(VmInitramfs, SharedLibrariesOfADynamicBinary) {
  const Result<std::vector<std::filesystem::path>> libraries = SharedLibraries("/bin/sh");
  ASSERT_TRUE(libraries);
  bool libc = false;
  for (const std::filesystem::path& library : *libraries) {
    EXPECT_TRUE(library.is_absolute()) << library;
    libc = libc || library.filename().string().rfind("libc.so", 0) == 0;
  }
  EXPECT_TRUE(libc);
}

}  // namespace
}  // namespace addfdlab::vm
