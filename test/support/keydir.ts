import { mkdir, rename, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";

/**
 * A Kubernetes Secret/ConfigMap volume as the kubelet lays it out: a timestamped folder with the
 * values, `..data` pointing at it, and each key a symlink through `..data`. `update` swaps
 * `..data` atomically to a new folder, as the kubelet does.
 */
export class KeyDirectory {
  private generation = 0;
  private current = "";
  private keys: string[] = [];

  constructor(readonly dir: string) {}

  async write(values: Record<string, string>): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const folder = `..2026_11_25_08_00_00.${String(++this.generation).padStart(9, "0")}`;
    await mkdir(join(this.dir, folder));
    for (const [key, value] of Object.entries(values)) {
      await writeFile(join(this.dir, folder, key), value);
    }
    await symlink(folder, join(this.dir, "..data_tmp"));
    await rename(join(this.dir, "..data_tmp"), join(this.dir, "..data"));
    for (const key of Object.keys(values)) {
      await symlink(join("..data", key), join(this.dir, key)).catch(
        (err: NodeJS.ErrnoException) => {
          if (err.code !== "EEXIST") throw err;
        },
      );
    }
    for (const gone of this.keys.filter((key) => !(key in values))) {
      await rm(join(this.dir, gone), { force: true });
    }
    this.keys = Object.keys(values);
    if (this.current !== "") await rm(join(this.dir, this.current), { recursive: true });
    this.current = folder;
  }
}
