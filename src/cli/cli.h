/* cli.h: the subcommands of the `atelier` program. Each returns the process exit status and
 * prints its own usage on --help. Programs (unlike the library) print one clear line on
 * stderr for a failure and exit non-zero. */
#ifndef ATELIER_CLI_H
#define ATELIER_CLI_H

int cmd_demo(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_stylize(int argc, char **argv);
int cmd_gan(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_models(int argc, char **argv);

#endif
