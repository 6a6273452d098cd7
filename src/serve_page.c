/* serve_page.c: the web page (src/web/index.html), built into the program: CMake defines
 * ATELIER_PAGE_PATH and the assembler includes the file's bytes, as builtin_models.c does. */
#include <stddef.h>

#ifndef ATELIER_PAGE_PATH
#error "ATELIER_PAGE_PATH must name src/web/index.html (CMakeLists.txt defines it)"
#endif
__asm__(".section .rodata\n"
        ".global atelier_page_data\n"
        ".balign 16\n"
        "atelier_page_data:\n"
        ".incbin \"" ATELIER_PAGE_PATH "\"\n"
        "atelier_page_end:\n"
        ".global atelier_page_size\n"
        ".balign 8\n"
        "atelier_page_size:\n"
        ".quad atelier_page_end - atelier_page_data\n"
        ".previous\n");
