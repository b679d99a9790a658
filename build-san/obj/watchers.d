build-san/obj/watchers.o: src/watchers.c src/internal.h include/ev.h
src/internal.h:
include/ev.h:
