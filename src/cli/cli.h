/* Subcommands of the peerflow CLI; each returns the process exit code. */
#ifndef PF_CLI_H
#define PF_CLI_H

int pf_cmd_create(int argc, char **argv);
int pf_cmd_info(int argc, char **argv);
int pf_cmd_seed(int argc, char **argv);
int pf_cmd_get(int argc, char **argv);
int pf_cmd_tracker(int argc, char **argv);
int pf_cmd_demo(int argc, char **argv);
int pf_cmd_play(int argc, char **argv);
int pf_cmd_lab(int argc, char **argv);

#endif
