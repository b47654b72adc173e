/*
 * main.c - the attn tool: a table of commands, `attn --help` and
 * `attn --version`.  Each command parses its own options (`attn COMMAND
 * --help` prints its usage).
 */
#include "args.h"
#include "cli.h"

#include <stdio.h>
#include <string.h>

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"explain", attn_cmd_explain, "show attention step by step on seed 002's example or your own Q, K, V"},
    {"run", attn_cmd_run, "compute attention of .npy inputs and write the output (and weights, lse)"},
    {"bench", attn_cmd_bench, "measure speed and memory"},
    {"viz", attn_cmd_viz, "draw attention weights as a heatmap (PNG or SVG), per head and averaged"},
    {"viz-loss", attn_cmd_viz_loss, "draw loss curves from a CSV file (PNG or SVG)"},
    {"train", attn_cmd_train, "train a small attention model on generated data (next-vector, translate)"},
    {"translate", attn_cmd_translate, "English number words -> Chinese numerals with the trained model"},
};
enum { NUM_COMMANDS = sizeof commands / sizeof *commands };

static void print_help(FILE *f)
{
    fprintf(f, "attn %s - the attention mechanism in C\n\n", ATTN_VERSION_STRING);
    fprintf(f, "usage: attn COMMAND [OPTIONS]\n"
               "       attn COMMAND --help     full usage of one command (or: attn help COMMAND)\n"
               "       attn --help | --version\n\n"
               "commands:\n");
    for (int i = 0; i < NUM_COMMANDS; i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nStart with 'attn explain'.\n");
}

static const command *find_command(const char *name)
{
    for (int i = 0; i < NUM_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage("", "no command given; try 'attn explain'");
    const char *first = argv[1];
    if (strcmp(first, "--help") == 0 || strcmp(first, "-h") == 0) {
        print_help(stdout);
        return CLI_OK;
    }
    if (strcmp(first, "--version") == 0 || strcmp(first, "-V") == 0) {
        printf("attn %s (library %s)\n", ATTN_VERSION_STRING, attn_version());
        return CLI_OK;
    }
    if (strcmp(first, "help") == 0) { /* attn help [COMMAND] */
        if (argc < 3) {
            print_help(stdout);
            return CLI_OK;
        }
        const command *c = find_command(argv[2]);
        if (!c)
            return cli_usage("", "unknown command '%s'", argv[2]);
        char *help_argv[] = {(char *)c->name, (char *)"--help", NULL};
        return c->run(2, help_argv);
    }
    if (first[0] == '-')
        return cli_usage("", "unknown option %s (options go after the command)", first);
    const command *c = find_command(first);
    if (!c)
        return cli_usage("", "unknown command '%s'", first);
    return c->run(argc - 1, argv + 1);
}
