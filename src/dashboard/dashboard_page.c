/* dashboard_page.c: the dashboard's page (src/web/dashboard.html), built into the program:
 * CMake defines ATELIER_DASHBOARD_PAGE_PATH and the assembler includes the file's bytes, as
 * serve_page.c does for the service's page. */
#include <stddef.h>

#ifndef ATELIER_DASHBOARD_PAGE_PATH
#error "ATELIER_DASHBOARD_PAGE_PATH must name src/web/dashboard.html (CMakeLists.txt defines it)"
#endif
__asm__(".section .rodata\n"
        ".global atelier_dashboard_page_data\n"
        ".balign 16\n"
        "atelier_dashboard_page_data:\n"
        ".incbin \"" ATELIER_DASHBOARD_PAGE_PATH "\"\n"
        "atelier_dashboard_page_end:\n"
        ".global atelier_dashboard_page_size\n"
        ".balign 8\n"
        "atelier_dashboard_page_size:\n"
        ".quad atelier_dashboard_page_end - atelier_dashboard_page_data\n"
        ".previous\n");
