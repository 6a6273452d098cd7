/* lab_page.c: the lab's page (src/web/lab.html), built into the program: CMake defines
 * ATELIER_LAB_PAGE_PATH and the assembler includes the file's bytes, as serve_page.c does. */
#include <stddef.h>

#ifndef ATELIER_LAB_PAGE_PATH
#error "ATELIER_LAB_PAGE_PATH must name src/web/lab.html (CMakeLists.txt defines it)"
#endif
__asm__(".section .rodata\n"
        ".global atelier_lab_page_data\n"
        ".balign 16\n"
        "atelier_lab_page_data:\n"
        ".incbin \"" ATELIER_LAB_PAGE_PATH "\"\n"
        "atelier_lab_page_end:\n"
        ".global atelier_lab_page_size\n"
        ".balign 8\n"
        "atelier_lab_page_size:\n"
        ".quad atelier_lab_page_end - atelier_lab_page_data\n"
        ".previous\n");
