/* main.c: process setup and wiring only (placeholder while the proxy lands). */
#include <stdio.h>

int main(void)
{
    printf("levee " LV_VERSION "\n");
    return 0;
}
