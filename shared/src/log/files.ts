import { link, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/** Makes a directory entry (a created, renamed or truncated file) durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function writeTemp(file: string, data: string): Promise<string> {
  await mkdir(path.dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  const fh = await open(temp, 'w');
  try {
    await fh.writeFile(data);
    await fh.datasync();
  } finally {
    await fh.close();
  }
  return temp;
}

/** Replaces a file atomically: a crash leaves the old content or the new, never a mix. */
export async function writeFileAtomic(file: string, data: string): Promise<void> {
  const temp = await writeTemp(file, data);
  await rename(temp, file);
  await fsyncDir(path.dirname(file));
}

/** Creates a file atomically unless it exists; false when it did. */
export async function createFileAtomic(file: string, data: string): Promise<boolean> {
  const temp = await writeTemp(file, data);
  try {
    await link(temp, file);
    await fsyncDir(path.dirname(file));
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    await rm(temp, { force: true });
  }
}

export async function readJsonIfExists<T>(file: string): Promise<T | null> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}
