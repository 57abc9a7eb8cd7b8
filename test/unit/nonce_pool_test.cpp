#include "nonce_pool.h"

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <set>

#include "test_helpers.h"

using Nonce = std::array<std::uint8_t, 12>;

TEST(NoncePool, HandsOutDistinctNoncesAcrossRefills) {
  gdpr::NoncePool pool;
  std::set<Nonce> seen;
  for (int i = 0; i < 5000; ++i) {  // more than one 4 KB buffer
    Nonce n;
    pool.next(n.data());
    EXPECT_TRUE(seen.insert(n).second);
  }
  EXPECT_GE(pool.refills(), 2u);
}

TEST(NoncePool, ForkedChildNeverReusesTheParentsBuffer) {
  gdpr::NoncePool pool;
  Nonce first;
  pool.next(first.data());  // fills the buffer in the parent

  int fds[2];
  ASSERT_EQ(0, pipe(fds));
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    Nonce n;
    const auto refills_before = pool.refills();
    pool.next(n.data());
    n[0] ^= static_cast<std::uint8_t>(pool.refills() == refills_before + 1 ? 0 : 0xff);
    ssize_t w = write(fds[1], n.data(), n.size());
    _exit(w == static_cast<ssize_t>(n.size()) ? 0 : 1);
  }
  Nonce from_child;
  ASSERT_EQ(static_cast<ssize_t>(from_child.size()),
            read(fds[0], from_child.data(), from_child.size()));
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  Nonce parent_next;
  pool.next(parent_next.data());
  EXPECT_NE(from_child, parent_next) << "child reused the parent's buffered nonce";
  close(fds[0]);
  close(fds[1]);
}
