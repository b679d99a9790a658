build-san/obj/io.o: src/io.c src/internal.h include/ev.h
src/internal.h:
include/ev.h:
