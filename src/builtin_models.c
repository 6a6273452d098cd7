/* builtin_models.c: models trained by Atelier on the data kit, built into the program:
 * the generator monet64 (gan_generator_load("monet64")) and the fast style network
 * kit-styles (stylenet_load("kit-styles")). CMake defines ATELIER_MONET64_PATH and
 * ATELIER_KIT_STYLES_PATH when models/NAME.safetensors exists; the file's bytes are
 * included by the assembler. */
#include <stddef.h>

#ifdef ATELIER_MONET64_PATH
__asm__(".section .rodata\n"
        ".global atelier_monet64_data\n"
        ".balign 64\n"
        "atelier_monet64_data:\n"
        ".incbin \"" ATELIER_MONET64_PATH "\"\n"
        "atelier_monet64_end:\n"
        ".global atelier_monet64_size\n"
        ".balign 8\n"
        "atelier_monet64_size:\n"
        ".quad atelier_monet64_end - atelier_monet64_data\n"
        ".previous\n");
#else
const unsigned char atelier_monet64_data[1] = {0};
const unsigned long long atelier_monet64_size = 0;
#endif

#ifdef ATELIER_KIT_STYLES_PATH
__asm__(".section .rodata\n"
        ".global atelier_kit_styles_data\n"
        ".balign 64\n"
        "atelier_kit_styles_data:\n"
        ".incbin \"" ATELIER_KIT_STYLES_PATH "\"\n"
        "atelier_kit_styles_end:\n"
        ".global atelier_kit_styles_size\n"
        ".balign 8\n"
        "atelier_kit_styles_size:\n"
        ".quad atelier_kit_styles_end - atelier_kit_styles_data\n"
        ".previous\n");
#else
const unsigned char atelier_kit_styles_data[1] = {0};
const unsigned long long atelier_kit_styles_size = 0;
#endif
