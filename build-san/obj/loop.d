build-san/obj/loop.o: src/loop.c src/internal.h include/ev.h
src/internal.h:
include/ev.h:
