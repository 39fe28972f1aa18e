/** Where a command reads its environment and writes its output. */
export interface Io {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  readonly env: NodeJS.ProcessEnv;
  /** Whether stdout is a terminal (pretty logs by default). */
  readonly isTty?: boolean;
  /** Where `run` writes its log lines (stdout in the binary). */
  readonly log?: { write(line: string): unknown };
}
