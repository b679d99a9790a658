build-san/obj/memory.o: src/memory.c src/internal.h include/ev.h
src/internal.h:
include/ev.h:
