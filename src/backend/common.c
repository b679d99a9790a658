/* common.c - what the backends share that is not inline in common.h. */
#include "backend/common.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

int ev__timeout_ms(ev_tstamp timeout)
{
  /* Rounding up keeps a timer due in 0.3 ms from making the loop spin with timeout 0 until it
   * is due. INT_MAX ms is 24.8 days: the loop computes the timeout again after the wait. */
  double ms = timeout * 1e3;

  if (!(ms > 0.)) /* also NaN */
    return 0;
  if (ms >= INT_MAX)
    return INT_MAX;
  int whole = (int)ms;
  return whole < ms ? whole + 1 : whole;
}

struct timeval ev__timeout_timeval(ev_tstamp timeout)
{
  /* A timer far away (1e20 s is beyond time_t) must not become a timeval the kernel refuses:
   * the loop computes the timeout again after the wait anyway. */
  struct timeval tv = {0, 0};
  double usec = timeout * 1e6;

  if (!(usec > 0.)) /* also NaN */
    return tv;
  if (usec >= (double)INT_MAX * 1e3) {
    tv.tv_sec = INT_MAX / 1000;
    tv.tv_usec = INT_MAX % 1000 * 1000;
    return tv;
  }
  long long whole = (long long)usec;
  if (whole < usec)
    whole++;
  tv.tv_sec = (time_t)(whole / 1000000);
  tv.tv_usec = (suseconds_t)(whole % 1000000);
  return tv;
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
