/** The most cells a terminal side can have: the kernel's winsize fields are 16 bits. */
export const MAX_TERMINAL_CELLS = 0xffff;

/** Whether `n` is a terminal side both backends can set: whole cells from 1 to MAX_TERMINAL_CELLS. */
export function isTerminalCells(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= MAX_TERMINAL_CELLS;
}
