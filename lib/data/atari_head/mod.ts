/**
 * Atari-HEAD (Zhang et al. 2020, human play with gaze) in the project: its on-disk layout read
 * and written, and converted into the project's dataset format.
 *
 * Files: `labels.ts` (the label table, ALE's action enum and the minimal-set mapping), `tar.ts`
 * and `bzip2.ts` (streaming the `.tar.bz2` archives), `zip.ts` (a game's zip, read in place),
 * `trial.ts` (finding, reading and writing trials), `game_files.ts` (`action_enums.txt` and
 * `meta_data.csv`), `convert.ts` (trials into a dataset), `record.ts` (trials from our own games).
 *
 * @module
 */

export {
  ALE_ACTIONS,
  aleActionId,
  formatLabels,
  LABEL_HEADER,
  type LabelRow,
  minimalAction,
  parseLabels,
} from "./labels.ts";
export {
  findTrials,
  readTrial,
  SCREEN_SHAPE,
  type Trial,
  type TrialFiles,
  trialFiles,
  trialNumber,
  type TrialStep,
  TrialWriter,
} from "./trial.ts";
export {
  ACTION_ENUMS_FILE,
  formatActionEnums,
  formatMetaData,
  type GameFileRefs,
  type GameFiles,
  META_DATA_FILE,
  type MetaRow,
  type MetaTable,
  parseActionEnums,
  parseMetaData,
  readGameFiles,
} from "./game_files.ts";
export {
  ATARI_HEAD_STATE_KEYS,
  type ConvertOptions,
  type ConvertSummary,
  convertTrials,
} from "./convert.ts";
export {
  type RecordConfig,
  recordedTrialName,
  recordingEnvConfig,
  recordTrials,
  type ScreenPolicy,
  statePolicy,
} from "./record.ts";
export { readTar, tarEnd, type TarEntry, tarEntry, tarHeader } from "./tar.ts";
export { zipEntries, type ZipEntry, zipEntryStream } from "./zip.ts";
