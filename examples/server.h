/* server.h - what the four server examples share: a listening socket on the loopback address
 * and a clean end on SIGINT/SIGTERM (ev_break, so that main returns and exit handlers run).
 * Plain ev.h: the evring.h examples use it as the ev_io ones do. */
#ifndef EXAMPLE_SERVER_H
#define EXAMPLE_SERVER_H

#include <arpa/inet.h>
#include <ev.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

/* A non-blocking listening socket on 127.0.0.1:port (an example, not a service); -1 after
 * printing why. */
static inline int server_listen(const char *port)
{
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port))};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
      bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, SOMAXCONN) < 0) {
    perror("listen");
    return -1;
  }
  return fd;
}

static inline void server_stop_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
  (void)w, (void)revents;
  ev_break(loop, EVBREAK_ALL);
}

/* ev_run returns on SIGINT or SIGTERM. */
static inline void server_stop_on_signals(struct ev_loop *loop)
{
  static ev_signal sigint, sigterm;
  ev_signal_init(&sigint, server_stop_cb, SIGINT);
  ev_signal_start(loop, &sigint);
  ev_signal_init(&sigterm, server_stop_cb, SIGTERM);
  ev_signal_start(loop, &sigterm);
}

#endif
