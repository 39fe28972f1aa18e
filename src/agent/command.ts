/** A command line that cannot be split into words. */
export class CommandSyntaxError extends Error {
  override readonly name = "CommandSyntaxError";
}

/**
 * Splits a command line into words on whitespace, with '…' (literal) and "…" (where \" and \\
 * are escapes) grouping — the subset of shell quoting an operator writes in a flag. No shell
 * ever runs it: no expansion, no operators, no globbing.
 */
export function splitCommand(text: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === "\\" && (text[i + 1] === '"' || text[i + 1] === "\\")) word += text[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw new CommandSyntaxError(`unterminated ${quote} quote in ${JSON.stringify(text)}`);
  if (inWord) words.push(word);
  if (words.length === 0) throw new CommandSyntaxError("the command is empty");
  return words;
}
