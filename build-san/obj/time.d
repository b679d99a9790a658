build-san/obj/time.o: src/time.c src/internal.h include/ev.h
src/internal.h:
include/ev.h:
