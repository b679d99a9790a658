build-san/obj/stat.o: src/stat.c src/internal.h include/ev.h
src/internal.h:
include/ev.h:
