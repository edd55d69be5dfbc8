'use strict'
// Mocha's spec reporter plus the plain closing line CI reads: "N passed, N failed[, N skipped]".
// (.mocharc.json sets fail-zero, so a run in which no test ran fails.)
const Spec = require('mocha/lib/reporters/spec')

class SummaryReporter extends Spec {
  epilogue () {
    super.epilogue()
    const { passes, failures, pending } = this.stats
    const skipped = pending ? `, ${pending} skipped` : ''
    process.stdout.write(`${passes} passed, ${failures} failed${skipped}\n`)
  }
}

module.exports = SummaryReporter
