build-san/obj/backend/poll.o: src/backend/poll.c src/internal.h \
 include/ev.h src/backend/common.h
src/internal.h:
include/ev.h:
src/backend/common.h:
