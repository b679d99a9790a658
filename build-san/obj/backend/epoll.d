build-san/obj/backend/epoll.o: src/backend/epoll.c src/internal.h \
 include/ev.h src/backend/common.h
src/internal.h:
include/ev.h:
src/backend/common.h:
