/* common.c - what the backends share that is not inline in common.h. */
#include "backend/common.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

int ev__timeout_ms(ev_tstamp timeout)
{
  double ms = timeout * 1e3;

  if (!(ms > 0.)) /* also NaN */
    return 0;
  if (ms >= INT_MAX)
    return INT_MAX;
  int whole = (int)ms;
  return whole < ms ? whole + 1 : whole;
}

int ev__epoll_fresh_set(int *epfdp)
{
  int epfd = *epfdp;
  /* Made beside the old set, then moved onto its number by dup3(), which closes the old set in
   * the same step: no other thread can be handed the number in between. */
  int fresh = epoll_create1(EPOLL_CLOEXEC);

  if (fresh < 0) {
    if (errno != EMFILE && errno != ENFILE)
      return -errno;
    /* No descriptor to spare: close the old set first. The new one then gets its number, the
     * only free one below the limit, unless another thread freed a lower one meanwhile. */
    close(epfd);
    *epfdp = -1;
    fresh = epoll_create1(EPOLL_CLOEXEC);
    if (fresh < 0)
      return -errno;
    if (fresh == epfd) {
      *epfdp = epfd;
      return 0;
    }
    /* Another thread may have been handed epfd since: F_DUPFD takes the number only if it is
     * still free, where dup3() would close that thread's file. */
    int moved = fcntl(fresh, F_DUPFD_CLOEXEC, epfd);
    close(fresh);
    if (moved == epfd) {
      *epfdp = epfd;
      return 0;
    }
    if (moved >= 0)
      close(moved);
    return -EMFILE;
  }

  if (dup3(fresh, epfd, O_CLOEXEC) < 0) {
    int err = -errno;
    close(fresh);
    return err;
  }
  close(fresh);
  return 0;
}
