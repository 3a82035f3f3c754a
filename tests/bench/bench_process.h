// What every benchmark program needs of its process, servers and load clients alike.
#pragma once

#include <sys/resource.h>

namespace bench {

// As many open files as the hard limit allows: hundreds of clients need more than 1024.
inline void raise_fd_limit() {
  rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
}

}  // namespace bench
